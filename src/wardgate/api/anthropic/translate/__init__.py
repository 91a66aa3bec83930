"""Translation between Anthropic's Messages API, as clients such as Claude Code speak it to ``POST /v1/messages``,
and the gateway's canonical OpenAI Chat Completions format — for models served by non-Anthropic providers
(Anthropic deployments are passthrough and never come here).

Owns: requests (``anthropic_to_openai_request``: ``request``, ``messages``), responses
(``openai_to_anthropic_response``: ``response``), the SSE event stream (``OpenAIChunksToAnthropicEvents``,
``sse_frame``: ``stream``), Anthropic-shaped errors (``errors``) and the local ``count_tokens`` estimate
(``tokens``). It mirrors ``wardgate.providers.anthropic`` (the OpenAI → Anthropic direction) field for field, so a
round trip through an Anthropic deployment loses nothing: reasoning as ``reasoning_content``, signed thinking as
``thinking_blocks``, ``cache_control`` markers (with ``ttl``) on content parts, messages and tools.

Pure functions and state machines over dicts: no I/O. Must not import ``wardgate.providers``,
``wardgate.storage`` or ``wardgate.routing`` (only ``wardgate.core``); shared conventions are restated here.
"""

from wardgate.api.anthropic.translate.errors import anthropic_error_body, anthropic_error_type, error_event
from wardgate.api.anthropic.translate.request import anthropic_to_openai_request
from wardgate.api.anthropic.translate.response import openai_to_anthropic_response
from wardgate.api.anthropic.translate.stream import Event, OpenAIChunksToAnthropicEvents, sse_frame
from wardgate.api.anthropic.translate.tokens import estimate_tokens

__all__ = [
    "Event",
    "OpenAIChunksToAnthropicEvents",
    "anthropic_error_body",
    "anthropic_error_type",
    "anthropic_to_openai_request",
    "error_event",
    "estimate_tokens",
    "openai_to_anthropic_response",
    "sse_frame",
]
