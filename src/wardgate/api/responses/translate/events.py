"""SSE framing for Responses events and the in-stream ``error`` event.

How the ``openai`` Python SDK (``openai/_streaming.py``, ``Stream.__stream__``) treats a failure mid-stream: for
``client.responses.create(stream=True)`` and ``client.responses.stream(...)`` (``stream_mode`` "legacy") it raises
``openai.APIError`` for any SSE event whose JSON data has a truthy **top-level** ``"error"`` key, whatever the
event name, taking the message from ``data["error"]["message"]`` (``body`` = ``data["error"]``). The documented
``ResponseErrorEvent`` shape, ``{"type": "error", "code", "message", "param", "sequence_number"}``, has no such
key: the SDK yields it as an ordinary event and the client's loop simply ends, without a completed response and
without an exception. A ``response.failed`` event (its error nested in ``response.error``) does not raise either.

So ``error_event`` sends both: the documented flat fields (what the SDK's ``ResponseErrorEvent`` type and the API
reference describe) and a nested ``error`` object ``{"type", "code", "message", "param"}`` (what OpenAI's live API
sends), which makes the SDK raise ``APIError`` — the gateway must make a client notice a broken upstream. The
event still validates as the SDK's ``ResponseErrorEvent`` (its models keep extra fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.api.responses.translate.common import JSONDict
from wardgate.core.errors import GatewayError


def sse_frame(event_type: str, data: Mapping[str, Any]) -> bytes:
    """One SSE frame: ``event: <type>\\ndata: <compact JSON>\\n\\n``."""
    return b"event: " + event_type.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def error_event(error: GatewayError, sequence_number: int) -> JSONDict:
    """The ``error`` event for a stream that fails after it started (see the module docstring)."""
    code = error.code or error.error_type
    return {
        "type": "error",
        "sequence_number": sequence_number,
        "code": code,
        "message": error.message,
        "param": error.param,
        "error": {"type": error.error_type, "code": code, "message": error.message, "param": error.param},
    }
