"""The HTTP client for cross-dialect providers: translate (pure adapter) → sign → send → translate back.

Images are inlined first for adapters that need bytes (through the SSRF-safe fetcher), parameters a provider
cannot express follow the deployment's ``unsupported_params`` mode (the dropped ones are listed in
``x-wardgate-dropped-params`` in ``warn`` mode), and streams are translated chunk by chunk as bytes arrive. A stream
that ends before the provider signalled its end raises, so the client never sees a cut stream as a finished one.

:meth:`TranslatingClient.count_tokens` asks the provider's own token-count API where it has one (Anthropic
``count_tokens``, Gemini / Vertex AI ``countTokens``, Bedrock ``CountTokens``); the pure call builders live in each
provider's ``count`` module.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import orjson

from wardgate.config.schema import Timeouts
from wardgate.core.errors import GatewayError, UpstreamStatusError
from wardgate.core.types import Endpoint, NativeBody, ProxyRequest, ProxyResponse, RequestContext
from wardgate.providers.anthropic.adapter import AnthropicAdapter
from wardgate.providers.anthropic.count import AnthropicCounter
from wardgate.providers.base import DeploymentTarget, UpstreamCall
from wardgate.providers.bedrock.adapter import BedrockAdapter
from wardgate.providers.bedrock.count import BedrockCounter
from wardgate.providers.fetch import ImageFetcher
from wardgate.providers.gemini.adapter import GeminiAdapter
from wardgate.providers.gemini.count import GeminiCounter
from wardgate.providers.modeldata import max_output_tokens
from wardgate.providers.signing import RequestSigner, TokenSigner
from wardgate.providers.translate import (
    ChatAdapter,
    FanOutEmbeddings,
    NativeAdapter,
    StreamTranslator,
    TranslationContext,
)
from wardgate.providers.transport import Transport, UpstreamReply
from wardgate.providers.upstream import DECODE_ERRORS, StreamRelay, UrlCache, read_error, relay_stream

DROPPED_HEADER = b"x-wardgate-dropped-params"


class TokenCounter(Protocol):
    """Pure builders for one provider's token-count call (see the providers' ``count`` modules)."""

    def translated_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall: ...

    def tokens(self, answer: bytes) -> int:
        """The count in the provider's answer (raises ``ValueError``/``KeyError``/``TypeError`` when unreadable)."""
        ...

    def declines(self, error: GatewayError) -> bool:
        """Whether ``error`` means "no count for this model" (the caller estimates) rather than a failure."""
        ...


@runtime_checkable
class NativeTokenCounter(TokenCounter, Protocol):
    """A counter whose count API also takes one inbound dialect's body as it is (Anthropic's)."""

    native_dialect: ClassVar[str]

    def native_call(self, native: NativeBody, upstream_model: str) -> UpstreamCall: ...


def token_counter(adapter: ChatAdapter) -> TokenCounter | None:
    """The token counter for the providers that offer a count API, None for the others."""
    if isinstance(adapter, AnthropicAdapter):
        return AnthropicCounter(adapter)
    if isinstance(adapter, GeminiAdapter):
        return GeminiCounter(adapter)
    if isinstance(adapter, BedrockAdapter):
        return BedrockCounter(adapter)
    return None


class TranslatingClient:
    def __init__(
        self,
        *,
        name: str,
        type: str,
        adapter: ChatAdapter,
        base_url: str,
        signer: RequestSigner | None,
        transport: Transport,
        timeouts: Timeouts,
        fetcher: ImageFetcher | None = None,
        static_headers: Mapping[str, str] | None = None,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.type = type
        self._adapter = adapter
        self.base_url = base_url
        self._signer = signer
        self._transport = transport
        self._timeouts = timeouts
        self._fetcher = fetcher
        self._headers = dict(static_headers or {})
        self._secrets = tuple(secret for secret in secrets if secret)
        self._urls = UrlCache(base_url, encoded=True)
        self._counter = token_counter(adapter)

    def supports(self, endpoint: Endpoint) -> bool:
        return True

    def _context(self, request: ProxyRequest, target: DeploymentTarget) -> TranslationContext:
        options = request.body.get("stream_options")
        return TranslationContext(
            upstream_model=target.upstream_model,
            request_model=request.model,
            response_id="chatcmpl-" + os.urandom(12).hex(),
            created=int(time.time()),
            stream=request.stream,
            include_usage=bool(request.stream and isinstance(options, dict) and options.get("include_usage")),
            unsupported_mode=target.unsupported_params,
            default_max_tokens=target.max_tokens or max_output_tokens(target.upstream_model),
        )

    async def invoke(self, ctx: RequestContext, request: ProxyRequest, target: DeploymentTarget) -> ProxyResponse:
        native = request.native
        adapter = self._adapter
        if native is not None and isinstance(adapter, NativeAdapter) and adapter.native_dialect == native.dialect:
            return await self._passthrough(adapter, native, request, target, ctx.upstream_headers)
        tctx = self._context(request, target)
        if request.endpoint is Endpoint.EMBEDDINGS:
            if isinstance(self._adapter, FanOutEmbeddings):
                return await self._fan_out_embeddings(request, tctx, ctx.upstream_headers)
            call = self._adapter.embeddings_call(request.body, tctx)
        else:
            body = request.canonical()
            if self._adapter.needs_image_bytes and self._fetcher is not None:
                body = await self._fetcher.inline_images(body)
            call = self._adapter.chat_call(body, tctx)
        reply = await self._send(call, ctx.upstream_headers)
        headers = _dropped_headers(tctx)
        if call.stream:
            translator = _JsonChunks(self._adapter.chat_stream(tctx))
            return ProxyResponse(stream=self._relay(reply, translator), headers=headers)
        raw = await reply.read_all(self.name)
        try:
            if request.endpoint is Endpoint.EMBEDDINGS:
                result = self._adapter.embeddings_response(raw, tctx)
                _encode_embeddings(result, request.body.get("encoding_format"))
            else:
                result = self._adapter.chat_response(raw, tctx)
        except GatewayError:
            raise
        except DECODE_ERRORS:
            raise UpstreamStatusError(f"provider {self.name} sent a response that could not be read") from None
        return ProxyResponse(body=orjson.dumps(result), headers=headers)

    async def count_tokens(self, request: ProxyRequest, target: DeploymentTarget) -> int | None:
        """The exact input tokens of a chat request, from the provider's own count API. None when the provider has
        no such API or declines for this model (the caller then estimates); other upstream errors raise mapped.

        A request in the count API's own dialect (Anthropic's) is counted as the client sent it; any other is
        counted through the translation its chat call would get (images inlined first where the provider needs
        bytes; parameters it cannot express are dropped, they do not change the input)."""
        counter = self._counter
        if counter is None:
            return None
        native = request.native
        if native is not None and isinstance(counter, NativeTokenCounter) and native.dialect == counter.native_dialect:
            call = counter.native_call(native, target.upstream_model)
        else:
            body = request.canonical()
            if self._adapter.needs_image_bytes and self._fetcher is not None:
                body = await self._fetcher.inline_images(body)
            tctx = self._context(request, target)
            tctx.stream, tctx.include_usage, tctx.unsupported_mode = False, False, "drop"
            call = counter.translated_call(body, tctx)
        try:
            reply = await self._send(call)
        except GatewayError as error:
            if counter.declines(error):
                return None
            raise
        raw = await reply.read_all(self.name)
        try:
            return counter.tokens(raw)
        except DECODE_ERRORS:
            raise UpstreamStatusError(f"provider {self.name} sent a token count that could not be read") from None

    async def _fan_out_embeddings(
        self, request: ProxyRequest, tctx: TranslationContext, trace: Mapping[str, str] | None
    ) -> ProxyResponse:
        adapter = self._adapter
        assert isinstance(adapter, FanOutEmbeddings)
        calls = adapter.embeddings_calls(request.body, tctx)
        outcomes = await asyncio.gather(*(self._send(call, trace) for call in calls), return_exceptions=True)
        replies = [r for r in outcomes if isinstance(r, UpstreamReply)]
        failure = next((r for r in outcomes if isinstance(r, BaseException)), None)
        if failure is not None:
            for reply in replies:
                reply.response.close()
            raise failure
        bodies = [await reply.read_all(self.name) for reply in replies]
        try:
            result = adapter.embeddings_responses(bodies, tctx, [reply.headers for reply in replies])
        except DECODE_ERRORS:
            raise UpstreamStatusError(f"provider {self.name} sent a response that could not be read") from None
        _encode_embeddings(result, request.body.get("encoding_format"))
        return ProxyResponse(body=orjson.dumps(result), headers=_dropped_headers(tctx))

    async def _passthrough(
        self,
        adapter: NativeAdapter,
        native: NativeBody,
        request: ProxyRequest,
        target: DeploymentTarget,
        trace: Mapping[str, str] | None,
    ) -> ProxyResponse:
        """Same dialect on both sides: forward the client's body (only ``model`` changed) and relay the answer."""
        model_unchanged = native.body.get("model") == target.upstream_model
        body = native.raw if model_unchanged else orjson.dumps({**native.body, "model": target.upstream_model})
        reply = await self._send(adapter.native_call(body, native.headers, request.stream), trace)
        if request.stream:
            return ProxyResponse(stream=self._relay(reply, adapter.native_stream()), dialect=native.dialect)
        raw = await reply.read_all(self.name)
        try:
            orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise UpstreamStatusError(f"provider {self.name} sent a response that is not valid JSON") from None
        return ProxyResponse(body=raw, dialect=native.dialect)

    async def _send(self, call: UpstreamCall, trace: Mapping[str, str] | None = None) -> UpstreamReply:
        """Sign and send ``call``; ``trace`` (the attempt's trace context headers) is added after signing."""
        url, parsed = self._urls.get(call)
        headers = {**self._headers, **call.headers}
        if self._signer is not None:
            headers.update(await self._signer.headers(call.method, url, headers, call.body))
        reply = await self._transport.send(self.name, parsed, call.body, headers, self._timeouts, call.stream, trace)
        if reply.status != 200:
            if reply.status == 401 and isinstance(self._signer, TokenSigner):
                self._signer.rejected()
            raise await read_error(reply, self.name, self._adapter.map_error, self._scrub)
        return reply

    def _relay(self, reply: UpstreamReply, relay: StreamRelay) -> AsyncIterator[bytes]:
        return relay_stream(reply, self.name, self._timeouts.idle, relay, self._scrub)

    def _scrub(self, error: GatewayError) -> GatewayError:
        """No credential may leave in an error message, whatever the provider echoed."""
        for secret in self._secrets:
            if secret in error.message:
                error.message = error.message.replace(secret, "[redacted]")
        return error


class _JsonChunks:
    """A stream translator seen as a relay: its OpenAI chunk dicts serialised as event payloads."""

    def __init__(self, translator: StreamTranslator) -> None:
        self._translator = translator

    def feed(self, data: bytes) -> list[bytes]:
        return [orjson.dumps(chunk) for chunk in self._translator.feed(data)]

    def finish(self) -> list[bytes]:
        return [orjson.dumps(chunk) for chunk in self._translator.finish()]


def _dropped_headers(ctx: TranslationContext) -> list[tuple[bytes, bytes]]:
    if ctx.unsupported_mode == "warn" and ctx.dropped:
        return [(DROPPED_HEADER, ",".join(ctx.dropped).encode())]
    return []


def _encode_embeddings(result: dict[str, Any], encoding: Any) -> None:
    """OpenAI's ``encoding_format: base64`` (the openai SDK's default): little-endian float32, base64."""
    if encoding != "base64":
        return
    for item in result.get("data", []):
        vector = item["embedding"]
        item["embedding"] = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
