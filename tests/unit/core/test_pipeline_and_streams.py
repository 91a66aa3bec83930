"""Tests of stage composition, the stream helpers (peek_first, on_stream_end) and the error tree."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from wardgate.core import errors
from wardgate.core.pipeline import compose
from wardgate.core.streams import close_quietly, on_stream_end, peek_first
from wardgate.core.types import Endpoint, Handler, ProxyRequest, ProxyResponse, RequestContext, Stage


def make_ctx() -> RequestContext:
    return RequestContext(request_id="req-1", snapshot=None, headers={}, client="127.0.0.1", started=0.0)


def make_request() -> ProxyRequest:
    return ProxyRequest(endpoint=Endpoint.CHAT, raw=b"{}")


# --- compose --------------------------------------------------------------------------------------------------


def recording_stage(name: str, log: list[str]) -> Stage:
    async def stage(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        log.append(f"{name}:in")
        response = await nxt(ctx, request)
        log.append(f"{name}:out")
        return response

    stage.__name__ = name
    return stage


def recording_terminal(log: list[str], status: int = 200) -> Handler:
    async def terminal(ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        log.append("terminal")
        return ProxyResponse(status=status, body=b"done")

    return terminal


async def test_compose_runs_stages_outermost_first_then_terminal() -> None:
    log: list[str] = []
    handler = compose([recording_stage(n, log) for n in ("a", "b", "c")], recording_terminal(log))
    response = await handler(make_ctx(), make_request())
    assert response.body == b"done"
    assert log == ["a:in", "b:in", "c:in", "terminal", "c:out", "b:out", "a:out"]


async def test_compose_without_stages_is_the_terminal() -> None:
    log: list[str] = []
    terminal = recording_terminal(log, status=201)
    handler = compose([], terminal)
    assert handler is terminal
    assert (await handler(make_ctx(), make_request())).status == 201


async def test_compose_passes_the_same_ctx_and_request_through() -> None:
    seen: list[tuple[RequestContext, ProxyRequest]] = []

    async def stage(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        seen.append((ctx, request))
        return await nxt(ctx, request)

    async def terminal(ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        seen.append((ctx, request))
        return ProxyResponse()

    ctx, request = make_ctx(), make_request()
    await compose([stage, stage], terminal)(ctx, request)
    assert len(seen) == 3
    assert all(c is ctx and r is request for c, r in seen)


async def test_stage_can_short_circuit() -> None:
    log: list[str] = []

    async def gate(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        log.append("gate")
        return ProxyResponse(status=418)

    handler = compose([recording_stage("outer", log), gate, recording_stage("inner", log)], recording_terminal(log))
    response = await handler(make_ctx(), make_request())
    assert response.status == 418
    assert log == ["outer:in", "gate", "outer:out"]


async def test_exception_from_terminal_propagates_through_every_stage() -> None:
    log: list[str] = []

    async def failing(ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        raise errors.UpstreamTimeoutError("slow")

    handler = compose([recording_stage("a", log), recording_stage("b", log)], failing)
    with pytest.raises(errors.UpstreamTimeoutError, match="slow"):
        await handler(make_ctx(), make_request())
    assert log == ["a:in", "b:in"]


async def test_stage_can_catch_an_inner_exception() -> None:
    async def rescue(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        try:
            return await nxt(ctx, request)
        except errors.GatewayError as exc:
            return ProxyResponse(status=exc.http_status)

    async def boom(ctx: RequestContext, request: ProxyRequest, nxt: Handler) -> ProxyResponse:
        raise errors.RateLimitError("later")

    handler = compose([rescue, boom], recording_terminal([]))
    assert (await handler(make_ctx(), make_request())).status == 429


def test_bound_handlers_carry_the_stage_name() -> None:
    handler = compose([recording_stage("authenticate", [])], recording_terminal([]))
    assert handler.__name__ == "authenticate"


# --- stream helpers -------------------------------------------------------------------------------------------


class Source:
    """An async iterator that yields ``items``, then raises ``error`` (if any), and records ``aclose``."""

    def __init__(self, items: list[bytes], error: BaseException | None = None) -> None:
        self._items = list(items)
        self._error = error
        self.pulled = 0
        self.closed = 0

    def __aiter__(self) -> Source:
        return self

    async def __anext__(self) -> bytes:
        if self.closed:
            raise StopAsyncIteration
        if self._items:
            self.pulled += 1
            return self._items.pop(0)
        if self._error is not None:
            raise self._error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed += 1


async def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [item async for item in stream]


async def test_peek_first_pulls_only_the_first_event_then_replays_everything() -> None:
    source = Source([b"1", b"2", b"3"])
    stream = await peek_first(source)
    assert source.pulled == 1
    assert await collect(stream) == [b"1", b"2", b"3"]
    assert source.closed >= 1


async def test_peek_first_single_event() -> None:
    source = Source([b"only"])
    assert await collect(await peek_first(source)) == [b"only"]


async def test_peek_first_empty_stream() -> None:
    source = Source([])
    stream = await peek_first(source)
    assert await collect(stream) == []


@pytest.mark.parametrize(
    "error",
    [errors.UpstreamUnavailableError("down"), errors.StreamInterruptedError("cut"), asyncio.CancelledError()],
    ids=["gateway-error", "interrupted", "cancelled"],
)
async def test_peek_first_raises_error_before_first_event_and_closes_source(error: BaseException) -> None:
    source = Source([], error=error)
    with pytest.raises(type(error)) as info:
        await peek_first(source)
    assert info.value is error
    assert source.closed == 1


async def test_peek_first_error_after_first_event_surfaces_while_replaying() -> None:
    source = Source([b"1"], error=errors.StreamInterruptedError("cut"))
    stream = await peek_first(source)
    received: list[bytes] = []
    with pytest.raises(errors.StreamInterruptedError):
        async for item in stream:
            received.append(item)
    assert received == [b"1"]
    assert source.closed == 1


async def test_peek_first_replay_closed_early_closes_source() -> None:
    source = Source([b"1", b"2", b"3"])
    stream = await peek_first(source)
    assert await anext(stream) == b"1"
    await stream.aclose()  # type: ignore[attr-defined]
    assert source.closed == 1
    assert source.pulled == 1


async def test_peek_first_works_with_async_generators() -> None:
    finished: list[bool] = []

    async def gen() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            yield b"b"
        finally:
            finished.append(True)

    assert await collect(await peek_first(gen())) == [b"a", b"b"]
    assert finished == [True]


async def test_close_quietly_tolerates_missing_and_failing_aclose() -> None:
    class NoClose:
        def __aiter__(self) -> NoClose:
            return self

        async def __anext__(self) -> bytes:
            raise StopAsyncIteration

    class BadClose(NoClose):
        async def aclose(self) -> None:
            raise RuntimeError("close failed")

    await close_quietly(NoClose())
    await close_quietly(BadClose())


class Done:
    def __init__(self) -> None:
        self.calls: list[BaseException | None] = []

    def __call__(self, error: BaseException | None) -> None:
        self.calls.append(error)


async def test_on_stream_end_normal_end_calls_done_once_with_none() -> None:
    source, done = Source([b"a", b"b"]), Done()
    assert await collect(on_stream_end(source, done)) == [b"a", b"b"]
    assert done.calls == [None]
    assert source.closed == 1


async def test_on_stream_end_done_not_called_before_the_end() -> None:
    done = Done()
    stream = on_stream_end(Source([b"a", b"b"]), done)
    assert await anext(stream) == b"a"
    assert await anext(stream) == b"b"
    assert done.calls == []
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert done.calls == [None]


async def test_on_stream_end_error_calls_done_with_the_error_and_reraises() -> None:
    error = errors.StreamInterruptedError("cut")
    source, done = Source([b"a"], error=error), Done()
    received: list[bytes] = []
    with pytest.raises(errors.StreamInterruptedError) as info:
        async for item in on_stream_end(source, done):
            received.append(item)
    assert info.value is error
    assert received == [b"a"]
    assert done.calls == [error]
    assert source.closed == 1


async def test_on_stream_end_consumer_stops_early() -> None:
    source, done = Source([b"a", b"b", b"c"]), Done()
    stream = on_stream_end(source, done)
    assert await anext(stream) == b"a"
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(done.calls) == 1
    assert isinstance(done.calls[0], GeneratorExit)
    assert source.closed == 1
    assert source.pulled == 1
    await stream.aclose()  # type: ignore[attr-defined]
    assert len(done.calls) == 1


async def test_on_stream_end_consumer_task_cancelled() -> None:
    release = asyncio.Event()
    done = Done()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a"
        await release.wait()
        yield b"b"

    stream = on_stream_end(slow(), done)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _ in stream:
            got_first.set()

    task = asyncio.create_task(consume())
    await got_first.wait()
    await asyncio.sleep(0)  # let the consumer block on the second event
    assert done.calls == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(done.calls) == 1
    assert isinstance(done.calls[0], asyncio.CancelledError)


async def test_on_stream_end_empty_stream() -> None:
    done = Done()
    assert await collect(on_stream_end(Source([]), done)) == []
    assert done.calls == [None]


# --- error tree -----------------------------------------------------------------------------------------------

ERROR_TABLE = [
    (errors.GatewayError, 500, "api_error", None, False),
    (errors.InvalidRequestError, 400, "invalid_request_error", None, False),
    (errors.UnsupportedParameterError, 400, "invalid_request_error", "unsupported_parameter", False),
    (errors.AuthenticationError, 401, "authentication_error", "invalid_api_key", False),
    (errors.PermissionDeniedError, 403, "permission_error", "permission_denied", False),
    (errors.NotFoundError, 404, "invalid_request_error", "not_found", False),
    (errors.ModelNotFoundError, 404, "invalid_request_error", "model_not_found", False),
    (errors.RequestTooLargeError, 413, "invalid_request_error", "request_too_large", False),
    (errors.RateLimitError, 429, "rate_limit_error", "rate_limit_exceeded", True),
    (errors.UpstreamError, 502, "upstream_error", "bad_gateway", True),
    (errors.UpstreamStatusError, 502, "upstream_error", "bad_gateway", True),
    (errors.UpstreamRejectedError, 502, "invalid_request_error", "upstream_rejected", False),
    (errors.StreamInterruptedError, 502, "upstream_error", "stream_interrupted", True),
    (errors.UpstreamUnavailableError, 503, "service_unavailable", "upstream_unavailable", True),
    (errors.UpstreamTimeoutError, 504, "timeout", "upstream_timeout", True),
]


@pytest.mark.parametrize(
    ("cls", "status", "error_type", "code", "retryable"), ERROR_TABLE, ids=[row[0].__name__ for row in ERROR_TABLE]
)
def test_error_class_attributes(
    cls: type[errors.GatewayError], status: int, error_type: str, code: str | None, retryable: bool
) -> None:
    error = cls("something went wrong")
    assert isinstance(error, errors.GatewayError)
    assert error.http_status == status
    assert error.error_type == error_type
    assert error.code == code
    assert error.retryable is retryable
    assert error.param is None
    assert error.headers == {}
    assert str(error) == error.message == "something went wrong"
    assert error.to_dict() == {
        "error": {"message": "something went wrong", "type": error_type, "param": None, "code": code}
    }


def test_error_tree_shape() -> None:
    assert issubclass(errors.UnsupportedParameterError, errors.InvalidRequestError)
    assert issubclass(errors.ModelNotFoundError, errors.NotFoundError)
    for cls in (errors.UpstreamStatusError, errors.UpstreamRejectedError, errors.StreamInterruptedError):
        assert issubclass(cls, errors.UpstreamError)
    assert not issubclass(errors.UpstreamUnavailableError, errors.UpstreamError)


def test_error_overrides_param_code_status_and_headers() -> None:
    error = errors.UpstreamRejectedError(
        "bad temperature", param="temperature", code="invalid_value", status=422, headers={"retry-after": "3"}
    )
    assert error.http_status == 422
    assert errors.UpstreamRejectedError.status == 502  # the class default is untouched
    assert error.headers == {"retry-after": "3"}
    assert error.to_dict() == {
        "error": {
            "message": "bad temperature",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }


def test_error_to_dict_has_exactly_the_openai_keys() -> None:
    body = errors.ModelNotFoundError("no such model", param="model").to_dict()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]


def test_error_headers_are_not_shared_between_instances() -> None:
    first, second = errors.RateLimitError("a"), errors.RateLimitError("b")
    first.headers["retry-after"] = "1"
    assert second.headers == {}
