"""Translation between OpenAI's Responses API (``POST /v1/responses``, as the ``openai`` SDK's
``client.responses.create`` speaks it) and the gateway's canonical Chat Completions format — for models served by
providers that only speak chat (Anthropic, Gemini, Bedrock, vLLM, the simulated provider …).

Owns: input normalisation and the stored conversation (``input_items``, ``conversation_items``: ``items``),
requests (``responses_to_chat_request``: ``request``, ``tools``, ``messages``), responses (``chat_to_response``:
``response``), the event stream (``ChatChunksToResponseEvents``: ``stream``, ``stream_items``) and SSE framing
with the in-stream ``error`` event (``sse_frame``, ``error_event``: ``events``, whose docstring says which event
makes the openai SDK raise). Reasoning travels as ``reasoning`` items (``reasoning_text`` content); Anthropic's
signed thinking rides in their ``encrypted_content`` so it survives a ``previous_response_id`` round trip.

Pure functions and state machines over dicts: no I/O. Must import only ``wardgate.core`` (never
``wardgate.providers``, ``wardgate.storage``, ``wardgate.routing`` or the rest of ``wardgate.api``), the standard
library and orjson.
"""

from wardgate.api.responses.translate.events import error_event, sse_frame
from wardgate.api.responses.translate.items import conversation_items, input_items
from wardgate.api.responses.translate.request import DROPPED, responses_to_chat_request
from wardgate.api.responses.translate.response import chat_to_response
from wardgate.api.responses.translate.stream import ChatChunksToResponseEvents

__all__ = [
    "DROPPED",
    "ChatChunksToResponseEvents",
    "chat_to_response",
    "conversation_items",
    "error_event",
    "input_items",
    "responses_to_chat_request",
    "sse_frame",
]
