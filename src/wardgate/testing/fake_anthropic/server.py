"""``FakeAnthropic``: a real aiohttp server speaking Anthropic's Messages API wire format.

Routes: ``POST /v1/messages`` (JSON or SSE), ``POST /v1/messages/count_tokens``, ``GET /v1/models``, the
``/_fake/*`` control API (see ``wardgate.testing.control``) and Anthropic-style 404s for anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from wardgate.testing.control import add_control_routes
from wardgate.testing.fake_anthropic import errors
from wardgate.testing.fake_anthropic.reply import DEFAULT_WORDS, PromptCache, build_reply, prompt_tokens
from wardgate.testing.fake_anthropic.validate import InvalidRequest, validate_request
from wardgate.testing.fake_anthropic.wire import malformed_body, malformed_frame, message_body, stream_frames
from wardgate.testing.recording import RecordedRequest
from wardgate.testing.responses import body_response, drop_connection, json_response, raw_response, send_stream
from wardgate.testing.script import Behavior
from wardgate.testing.server import FakeServer
from wardgate.testing.wire import random_id

DEFAULT_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-7")
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
_PROVIDER = "anthropic"
_BAD_JSON = object()


class FakeAnthropic(FakeServer):
    """Fake Anthropic upstream. Scriptable per request (``Behavior``), records everything it receives.

    ``api_key``: when set, requests must present it in ``x-api-key``. ``models``: when set, other models get
    Anthropic's 404 ``not_found_error``. ``served_model``: the ``model`` reported (one name, or a mapping from
    requested model; default: echo the request). ``strict_alternation``: demand alternating roles starting with
    ``user`` (see ``validate``). Behaviour extras: ``status >= 400`` together with ``disconnect_after`` on a
    stream sends a 200 stream that carries ``disconnect_after`` frames and then an ``event: error`` with that
    status's error body — how Anthropic reports errors (e.g. ``overloaded_error``) after a stream started.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: Iterable[str] | None = None,
        served_model: str | Mapping[str, str] | None = None,
        default: Behavior | None = None,
        strict_alternation: bool = True,
        max_recorded: int = 1000,
        control_api: bool = True,
    ) -> None:
        self.api_key = api_key
        self.models = list(models) if models is not None else None
        self.served_model = served_model
        self.strict_alternation = strict_alternation
        self.control_api = control_api
        super().__init__(default, max_recorded)
        self.prompt_cache = PromptCache()

    # ------------------------------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        super().reset()
        self.prompt_cache.clear()

    # ---------------------------------------------------------------------------------------- routes

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._list_models)
        if self.control_api:
            add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _prelude(self, request: web.Request) -> tuple[dict[str, Any], str, web.Response | None]:
        """Record the request, then check the key, the version header and the JSON body."""
        raw = await request.read()
        parsed: Any = None
        if raw:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = _BAD_JSON
        headers = {k.lower(): v for k, v in request.headers.items()}
        record = None if parsed is _BAD_JSON else parsed
        self._log.add(RecordedRequest(request.method, request.path, dict(request.query), headers, raw, record))
        # API keys go in x-api-key; the SDKs for API version 2026-10-21 send them as a bearer token instead.
        auth = headers.get("authorization", "")
        presented = headers.get("x-api-key") or (auth[7:].strip() if auth[:7].lower() == "bearer " else None)
        if self.api_key is not None and presented != self.api_key:
            return {}, "", _error(401, errors.missing_api_key() if not presented else errors.invalid_api_key())
        version = headers.get("anthropic-version")
        if not version:
            return {}, "", _error(400, errors.missing_version())
        if version not in VERSIONS:
            return {}, "", _error(400, errors.invalid_version(version))
        if request.method == "POST" and not isinstance(parsed, dict):
            return {}, "", _error(400, errors.invalid_request("There was an issue with the format of your request."))
        return (parsed if isinstance(parsed, dict) else {}), version, None

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body, version, rejection = await self._prelude(request)
        if rejection is not None:
            return rejection
        try:
            validate_request(body, strict_alternation=self.strict_alternation, version=version)
        except InvalidRequest as exc:
            return _error(400, errors.invalid_request(exc.message))
        model: str = body["model"]
        if self.models is not None and model not in self.models:
            return _error(404, errors.model_not_found(model))
        stream = body.get("stream") is True
        behavior = self._pick("chat", model, _PROVIDER)
        return await self._guard(stream, self._answer(request, body, model, behavior, stream))

    async def _answer(
        self, request: web.Request, body: dict[str, Any], model: str, behavior: Behavior, stream: bool
    ) -> web.StreamResponse:
        if behavior.latency:
            await asyncio.sleep(behavior.latency)
        headers = {"request-id": random_id("req_", 24), **behavior.headers}
        error_in_stream = stream and behavior.status >= 400 and behavior.disconnect_after is not None
        if behavior.status >= 400 and not error_in_stream:
            return body_response(behavior.error_body or errors.default_error(behavior.status), behavior.status, headers)
        if behavior.disconnect_after is not None and not stream:
            drop_connection(request)
            return web.Response()
        reply = build_reply(body, behavior.served_model or self._served_name(model), behavior, self.prompt_cache)
        if not stream:
            if behavior.malformed:
                return raw_response(malformed_body(reply.message_id), 200, headers)
            return json_response(message_body(reply), 200, headers)
        frames = stream_frames(reply, behavior.chunks or DEFAULT_WORDS)
        if behavior.malformed:
            frames.insert(1, malformed_frame())
        disconnect_after = behavior.disconnect_after
        if error_in_stream:
            frames = [*frames[: behavior.disconnect_after], _error_frame(behavior)]
            disconnect_after = None
        return await self._stream(request, frames, behavior, disconnect_after, headers)

    async def _stream(
        self,
        request: web.Request,
        frames: list[bytes],
        behavior: Behavior,
        disconnect_after: int | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        gone: list[bool] = []
        resp = await send_stream(
            request,
            frames,
            interval=behavior.chunk_interval,
            disconnect_after=disconnect_after,
            headers=headers,
            on_client_gone=lambda: gone.append(True),
        )
        if gone:
            self._client_gone(True)
        elif disconnect_after is None:
            self.completed_streams += 1
        return resp

    def _served_name(self, model: str) -> str:
        if isinstance(self.served_model, str):
            return self.served_model
        if self.served_model is not None:
            return self.served_model.get(model, model)
        return model

    # ------------------------------------------------------------------------------ other routes

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body, version, rejection = await self._prelude(request)
        if rejection is not None:
            return rejection
        counted = {k: v for k, v in body.items() if k in ("model", "messages", "system", "tools", "tool_choice")}
        try:
            validate_request({**counted, "max_tokens": 1}, strict_alternation=self.strict_alternation, version=version)
        except InvalidRequest as exc:
            return _error(400, errors.invalid_request(exc.message))
        return json_response({"input_tokens": prompt_tokens(body)})

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        _, _, rejection = await self._prelude(request)
        if rejection is not None:
            return rejection
        names = self.models if self.models is not None else list(DEFAULT_MODELS)
        data = [{"type": "model", "id": m, "display_name": m, "created_at": "2025-05-14T00:00:00Z"} for m in names]
        return json_response(
            {
                "data": data,
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        )

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self._log.add(RecordedRequest(request.method, request.path, dict(request.query), headers, raw, None))
        return _error(404, errors.not_found())


def _error(status: int, body: dict[str, Any]) -> web.Response:
    return json_response(body, status, {"request-id": str(body.get("request_id", random_id("req_", 24)))})


def _error_frame(behavior: Behavior) -> bytes:
    """An ``event: error`` frame carrying the behaviour's error body (as Anthropic sends mid-stream errors)."""
    body = behavior.error_body
    if isinstance(body, bytes | str):
        data = body.encode() if isinstance(body, str) else body
    else:
        payload = dict(body) if body is not None else errors.default_error(behavior.status)
        payload.pop("request_id", None)
        data = orjson.dumps(payload)
    return b"event: error\ndata: " + data + b"\n\n"
