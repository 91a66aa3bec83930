"""The Anthropic Messages API (https://docs.anthropic.com/en/api/messages) as a cross-dialect adapter.

Owns the pure translation between the canonical OpenAI Chat Completions format and Anthropic's ``POST
/v1/messages``: requests (``request``, ``messages``), responses (``response``), the SSE event stream (``stream``)
and Anthropic's error bodies (``errors``); ``adapter.AnthropicAdapter`` ties them to the ``ChatAdapter`` protocol.

No I/O and no credentials here (``x-api-key`` is applied by the client afterwards). Must not import
``wardgate.api``, ``wardgate.stages``, ``wardgate.routing`` or ``wardgate.storage``.
"""

from wardgate.providers.anthropic.adapter import AnthropicAdapter
from wardgate.providers.anthropic.errors import map_anthropic_error
from wardgate.providers.anthropic.request import ANTHROPIC_VERSION, JSON_TOOL_NAME, openai_to_anthropic
from wardgate.providers.anthropic.response import anthropic_to_openai
from wardgate.providers.anthropic.stream import AnthropicStreamTranslator, anthropic_events_to_openai_chunks

__all__ = [
    "ANTHROPIC_VERSION",
    "JSON_TOOL_NAME",
    "AnthropicAdapter",
    "AnthropicStreamTranslator",
    "anthropic_events_to_openai_chunks",
    "anthropic_to_openai",
    "map_anthropic_error",
    "openai_to_anthropic",
]
