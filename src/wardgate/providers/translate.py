"""The contract for cross-dialect adapters (Anthropic, Gemini, Vertex AI, Bedrock).

An adapter is pure: it turns the canonical OpenAI request into its provider's call, the provider's answer back
into OpenAI's shapes, and its errors into the gateway's error tree. It does no I/O and never sees credentials; the
:class:`~wardgate.providers.translating_client.TranslatingClient` sends the call, applies credentials (static
headers, an OAuth token or a SigV4 signature) to the configured URL only, and fetches images for adapters that need
bytes before translation runs. Translation never mutates its input: it runs again on retry and fallback.

Parameters a provider cannot express go through :meth:`TranslationContext.unsupported` — never dropped silently:
``strict`` raises a 400 naming the parameter, ``warn`` drops it and lists it in ``x-wardgate-dropped-params``,
``drop`` drops it quietly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from wardgate.core.errors import GatewayError, UnsupportedParameterError
from wardgate.providers.base import UnsupportedMode, UpstreamCall
from wardgate.providers.upstream import StreamRelay

# Values of OpenAI parameters that ask for nothing beyond the default: sending them to a provider that has no
# such parameter loses nothing, so they never count as unsupported.
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "n": (1, None),
    "store": (False, None),
    "parallel_tool_calls": (True, None),
    "logprobs": (False, None),
    "presence_penalty": (0, 0.0, None),
    "frequency_penalty": (0, 0.0, None),
    "service_tier": ("auto", "default", None),
    "stream": (False, True, None),
    "stream_options": (None,),
    "metadata": (None,),
    "modalities": (["text"], None),
}


@dataclass(slots=True)
class TranslationContext:
    """Everything a translator may know about the call besides the body. Built per attempt by the client."""

    upstream_model: str
    request_model: str
    response_id: str
    created: int
    stream: bool = False
    include_usage: bool = False
    unsupported_mode: UnsupportedMode = "strict"
    default_max_tokens: int = 4096
    dropped: list[str] = field(default_factory=list)

    def unsupported(self, param: str, reason: str = "") -> None:
        """Record that ``param`` cannot be sent to this provider (raises in strict mode)."""
        if self.unsupported_mode == "strict":
            detail = f": {reason}" if reason else ""
            raise UnsupportedParameterError(
                f"`{param}` is not supported by this model's provider{detail}. The deployment's "
                "unsupported_params setting can drop it instead (warn or drop).",
                param=param,
            )
        if param not in self.dropped:
            self.dropped.append(param)

    def check_unknown(self, body: Mapping[str, Any], handled: frozenset[str]) -> None:
        """Flag every body field the translator does not handle, unless its value is neutral."""
        for name, value in body.items():
            if name in handled:
                continue
            neutral = NEUTRAL_VALUES.get(name)
            if neutral is not None and value in neutral:
                continue
            self.unsupported(name)


class StreamTranslator(Protocol):
    """Turns one provider stream into OpenAI ``chat.completion.chunk`` dicts, incrementally.

    ``feed`` takes raw upstream body bytes exactly as they arrive (the translator owns its framing: SSE, AWS
    event-stream, …) and returns the chunks they complete; it raises a ``GatewayError`` for an error event.
    ``finish`` is called at upstream EOF and returns the last chunks (the usage chunk when ``include_usage``);
    it raises ``StreamInterruptedError`` when the provider never signalled a real finish.
    """

    def feed(self, data: bytes) -> list[dict[str, Any]]: ...

    def finish(self) -> list[dict[str, Any]]: ...


class ChatAdapter(Protocol):
    """A pure cross-dialect adapter."""

    needs_image_bytes: ClassVar[bool]
    """True when the provider cannot fetch image URLs itself: the client inlines them as data URLs first."""

    def chat_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall: ...

    def chat_response(self, body: bytes, ctx: TranslationContext) -> dict[str, Any]: ...

    def chat_stream(self, ctx: TranslationContext) -> StreamTranslator: ...

    def embeddings_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall: ...

    def embeddings_response(self, body: bytes, ctx: TranslationContext) -> dict[str, Any]: ...

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError: ...


@runtime_checkable
class FanOutEmbeddings(Protocol):
    """An adapter whose provider embeds one input per call (Bedrock Titan): the client sends every call and the
    adapter merges the answers (with each answer's headers: some providers count tokens only there)."""

    def embeddings_calls(self, body: Mapping[str, Any], ctx: TranslationContext) -> list[UpstreamCall]: ...

    def embeddings_responses(
        self,
        bodies: Sequence[bytes],
        ctx: TranslationContext,
        headers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> dict[str, Any]: ...


@runtime_checkable
class NativeAdapter(Protocol):
    """An adapter whose provider speaks an inbound dialect natively: such requests pass through untouched."""

    native_dialect: ClassVar[str]

    def native_call(self, body: bytes, client_headers: Mapping[str, str], stream: bool) -> UpstreamCall: ...

    def native_stream(self) -> StreamRelay:
        """Raw upstream bytes in, complete SSE frames out (see :class:`~wardgate.providers.upstream.StreamRelay`)."""
        ...

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError: ...
