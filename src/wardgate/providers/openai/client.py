"""The HTTP client shared by every OpenAI-style provider: build (adapter) → credentials → send → relay.

Non-streaming bodies are checked to be JSON and forwarded as received; streams are relayed event by event as they
arrive, and a stream that ends without ``[DONE]`` or carries an invalid event raises, so the client never mistakes
a cut stream for a finished one.

OpenAI and Azure OpenAI deployments also take Responses API requests (``NativeBody`` dialect
:data:`~wardgate.core.types.RESPONSES_DIALECT`) as the client sent them and answer in that dialect
(:mod:`wardgate.providers.openai.responses`); OpenAI-compatible servers get the request's chat translation.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from wardgate.config.schema import Timeouts
from wardgate.core.errors import GatewayError, StreamInterruptedError, UpstreamStatusError
from wardgate.core.types import RESPONSES_DIALECT, Endpoint, NativeBody, ProxyRequest, ProxyResponse, RequestContext
from wardgate.providers.auth import Credential
from wardgate.providers.base import Adapter, DeploymentTarget
from wardgate.providers.openai.adapter import ResponsesAdapter
from wardgate.providers.openai.responses import ResponsesEventRelay, native_body
from wardgate.providers.sse import SSEDecoder
from wardgate.providers.transport import Transport
from wardgate.providers.upstream import ErrorMapper, UrlCache, read_error, relay_stream

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
RESPONSES_TYPES = frozenset({"openai", "azure_openai"})
"""Provider types whose upstream serves the Responses API (OpenAI-compatible servers get its chat translation)."""


class OpenAIStyleClient:
    """A configured OpenAI-style provider: one adapter, one base URL, one credential, the shared transport."""

    def __init__(
        self,
        *,
        name: str,
        type: str,
        adapter: Adapter,
        base_url: str,
        credential: Credential | None,
        transport: Transport,
        timeouts: Timeouts,
        static_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self._adapter = adapter
        self.base_url = base_url
        self._credential = credential
        self._transport = transport
        self._timeouts = timeouts
        self._headers = {**_JSON_HEADERS, **(static_headers or {})}
        if credential is not None:
            self._headers.update(credential.headers())
        self._urls = UrlCache(base_url)
        self._responses = adapter if type in RESPONSES_TYPES and isinstance(adapter, ResponsesAdapter) else None

    def supports(self, endpoint: Endpoint) -> bool:
        return True

    async def invoke(self, ctx: RequestContext, request: ProxyRequest, target: DeploymentTarget) -> ProxyResponse:
        if request.native is not None and self._responses is not None and request.native.dialect == RESPONSES_DIALECT:
            return await self._responses_passthrough(self._responses, request.native, request.stream, target, ctx)
        call = self._adapter.build_call(request, target.upstream_model)
        headers = {**self._headers, **call.headers} if call.headers else self._headers
        _, url = self._urls.get(call)
        reply = await self._transport.send(
            self.name, url, call.body, headers, self._timeouts, call.stream, ctx.upstream_headers
        )
        if reply.status != 200:
            raise await read_error(reply, self.name, self._adapter.map_error, self._scrub)
        if call.stream:
            content_type = reply.headers.get("Content-Type", "")
            if not content_type.startswith("text/event-stream"):
                reply.response.close()
                raise UpstreamStatusError(f"provider {self.name} did not answer with an event stream")
            relay = OpenAIEventRelay(self.name, self._adapter.map_error)
            return ProxyResponse(stream=relay_stream(reply, self.name, self._timeouts.idle, relay, self._scrub))
        body = await reply.read_all(self.name)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamStatusError(f"provider {self.name} sent a response that is not valid JSON") from None
        return ProxyResponse(body=body, parsed=parsed)

    async def _responses_passthrough(
        self, adapter: ResponsesAdapter, native: NativeBody, stream: bool, target: DeploymentTarget, ctx: RequestContext
    ) -> ProxyResponse:
        """A Responses API request forwarded as the client sent it (only ``model`` changed), answered as it came."""
        call = adapter.responses_call(native_body(native, target.upstream_model), stream)
        headers = {**self._headers, **call.headers} if call.headers else self._headers
        _, url = self._urls.get(call)
        reply = await self._transport.send(
            self.name, url, call.body, headers, self._timeouts, stream, ctx.upstream_headers
        )
        if reply.status != 200:
            raise await read_error(reply, self.name, self._adapter.map_error, self._scrub)
        if not stream:
            body = await reply.read_all(self.name)
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise UpstreamStatusError(f"provider {self.name} sent a response that is not valid JSON") from None
            return ProxyResponse(body=body, dialect=RESPONSES_DIALECT, parsed=parsed)
        if not reply.headers.get("Content-Type", "").startswith("text/event-stream"):
            reply.response.close()
            raise UpstreamStatusError(f"provider {self.name} did not answer with an event stream")
        relay = ResponsesEventRelay(self.name, self._adapter.map_error)
        events = relay_stream(reply, self.name, self._timeouts.idle, relay, self._scrub)
        return ProxyResponse(stream=events, dialect=RESPONSES_DIALECT)

    def _scrub(self, error: GatewayError) -> GatewayError:
        if self._credential is not None:
            error.message = self._credential.scrub(error.message)
        return error


class OpenAIEventRelay:
    """OpenAI SSE: each event's JSON payload is relayed as it is (after a parse check); ``[DONE]`` is the only
    real finish, and an ``{"error": …}`` event ends the stream with the mapped error."""

    def __init__(self, provider: str, map_error: ErrorMapper) -> None:
        self._provider = provider
        self._map_error = map_error
        self._decoder = SSEDecoder()
        self._finished = False
        self._failure: GatewayError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self._failure is not None:
            raise self._failure
        out: list[bytes] = []
        for event in self._decoder.feed(data):
            if self._finished:
                continue
            if event.data == b"[DONE]":
                self._finished = True
                continue
            failure = self._check(event.data)
            if failure is not None:
                if not out:
                    raise failure
                self._failure = failure  # deliver the good events of this read first, fail on the next call
                break
            out.append(event.data)
        return out

    def _check(self, payload: bytes) -> GatewayError | None:
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return StreamInterruptedError(f"provider {self._provider} sent an invalid stream event")
        if type(parsed) is dict and "error" in parsed:
            return self._map_error(500, payload, {})
        return None

    def finish(self) -> list[bytes]:
        if self._failure is not None:
            raise self._failure
        if not self._finished:
            raise StreamInterruptedError(f"provider {self._provider} ended the stream before it finished")
        return []
