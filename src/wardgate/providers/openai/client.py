"""The HTTP client shared by every OpenAI-style provider: build (adapter) → credentials → send → relay.

Non-streaming bodies are checked to be JSON and forwarded as received; streams are relayed event by event as they
arrive, and a stream that ends without ``[DONE]`` or carries an invalid event raises, so the client never mistakes
a cut stream for a finished one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from urllib.parse import urlencode

import orjson
from yarl import URL

from wardgate.config.schema import Timeouts
from wardgate.core.errors import GatewayError, StreamInterruptedError, UpstreamStatusError
from wardgate.core.types import Endpoint, ProxyRequest, ProxyResponse, RequestContext
from wardgate.providers.auth import Credential
from wardgate.providers.base import Adapter, DeploymentTarget, UpstreamCall
from wardgate.providers.sse import SSEDecoder
from wardgate.providers.transport import MAX_ERROR_BODY, Transport, UpstreamReply, iter_body

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


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
        self._base_url = base_url
        self._credential = credential
        self._transport = transport
        self._timeouts = timeouts
        self._headers = {**_JSON_HEADERS, **(static_headers or {})}
        if credential is not None:
            self._headers.update(credential.headers())
        self._urls: dict[tuple[str, str], URL] = {}

    def _url(self, call: UpstreamCall) -> URL:
        """The upstream URL: the configured base URL plus the adapter's path, parsed once and cached."""
        query = urlencode(call.query) if call.query else ""
        key = (call.path, query)
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) > 1024:
                self._urls.clear()
            url = URL(self._base_url + call.path + (f"?{query}" if query else ""))
            self._urls[key] = url
        return url

    def supports(self, endpoint: Endpoint) -> bool:
        return True

    async def invoke(self, ctx: RequestContext, request: ProxyRequest, target: DeploymentTarget) -> ProxyResponse:
        call = self._adapter.build_call(request, target.upstream_model)
        headers = {**self._headers, **call.headers} if call.headers else self._headers
        reply = await self._transport.send(self.name, self._url(call), call.body, headers, self._timeouts, call.stream)
        if reply.status != 200:
            raise await self._error(reply)
        if call.stream:
            content_type = reply.headers.get("Content-Type", "")
            if not content_type.startswith("text/event-stream"):
                reply.response.close()
                raise UpstreamStatusError(f"provider {self.name} did not answer with an event stream")
            return ProxyResponse(stream=self._relay(reply))
        body = await reply.read_all(self.name)
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            raise UpstreamStatusError(f"provider {self.name} sent a response that is not valid JSON") from None
        return ProxyResponse(body=body)

    async def _error(self, reply: UpstreamReply) -> GatewayError:
        try:
            body = await reply.read_all(self.name, MAX_ERROR_BODY)
        except GatewayError:
            body = b""
        error = self._adapter.map_error(reply.status, body, reply.headers)
        if self._credential is not None:
            error.message = self._credential.scrub(error.message)
        return error

    async def _relay(self, reply: UpstreamReply) -> AsyncIterator[bytes]:
        decoder = SSEDecoder()
        finished = False
        body = iter_body(reply, self.name, self._timeouts.idle)
        try:
            async for chunk in body:
                for event in decoder.feed(chunk):
                    data = event.data
                    if data == b"[DONE]":
                        finished = True
                        return
                    self._check_event(data)
                    yield data
            raise StreamInterruptedError(f"provider {self.name} ended the stream before it finished")
        finally:
            await body.aclose()
            if finished:
                reply.response.release()
            else:
                reply.response.close()

    def _check_event(self, data: bytes) -> None:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamInterruptedError(f"provider {self.name} sent an invalid stream event") from None
        if type(parsed) is dict and "error" in parsed:
            error = self._adapter.map_error(500, data, {})
            if self._credential is not None:
                error.message = self._credential.scrub(error.message)
            raise error
