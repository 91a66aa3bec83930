"""Responses API passthrough for OpenAI and Azure OpenAI: the client's body forwarded with only ``model`` changed,
and the upstream's event stream relayed event by event as complete SSE frames (``event: <type>`` + ``data:``).

The relay still knows when the stream really finished — ``response.completed``, ``response.incomplete`` or
``response.failed`` (https://platform.openai.com/docs/api-reference/responses-streaming) — and turns an ``error``
event into the gateway's error, so a cut stream never looks like a clean end.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.core.errors import GatewayError, StreamInterruptedError
from wardgate.core.types import NativeBody
from wardgate.providers.sse import SSEDecoder
from wardgate.providers.upstream import ErrorMapper

FINISH_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})

# The HTTP status an ``error`` event's code stands for (anything else maps like a 500).
_CODE_STATUS = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_is_overloaded": 503,
    "slow_down": 503,
    "invalid_request_error": 400,
    "invalid_prompt": 400,
    "context_length_exceeded": 400,
}


def native_body(native: NativeBody, upstream_model: str) -> bytes:
    """The client's Responses body with ``model`` set to the upstream's (its exact bytes when that is a no-op)."""
    if native.body.get("model") == upstream_model:
        return native.raw
    return orjson.dumps({**native.body, "model": upstream_model})


class ResponsesEventRelay:
    """Raw upstream bytes in, complete SSE frames out; only a finish event ends the stream cleanly."""

    def __init__(self, provider: str, map_error: ErrorMapper) -> None:
        self._provider = provider
        self._map_error = map_error
        self._decoder = SSEDecoder()
        self._finished = False
        self._failure: GatewayError | None = None

    def feed(self, data: bytes) -> list[bytes]:
        if self._failure is not None:
            raise self._failure
        frames: list[bytes] = []
        for event in self._decoder.feed(data):
            if self._finished:
                continue
            try:
                name, payload = self._check(event.event, event.data)
            except GatewayError as failure:
                if not frames:
                    raise
                self._failure = failure  # deliver the good events of this read first, fail on the next call
                break
            if name in FINISH_EVENTS:
                self._finished = True
            frames.append(b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n")
        return frames

    def _check(self, name: str | None, payload: bytes) -> tuple[str, bytes]:
        """The event's type (from ``event:``, else the payload's ``type``) and its one-line payload; raises for an
        ``error`` event or an unreadable one."""
        try:
            parsed: Any = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise StreamInterruptedError(f"provider {self._provider} sent an invalid stream event") from None
        if type(parsed) is not dict:
            raise StreamInterruptedError(f"provider {self._provider} sent an invalid stream event")
        kind = name or parsed.get("type")
        if not isinstance(kind, str) or not kind:
            raise StreamInterruptedError(f"provider {self._provider} sent a stream event without a type")
        if kind == "error":
            raise self._error(parsed)
        return kind, (orjson.dumps(parsed) if b"\n" in payload else payload)

    def _error(self, event: dict[str, Any]) -> GatewayError:
        """``{"type": "error", "code", "message", "param"}`` (or those fields under ``error``) as a gateway error."""
        nested = event.get("error")
        fields: dict[str, Any] = nested if isinstance(nested, dict) else event
        code = fields.get("code")
        if not isinstance(code, str):
            kind = fields.get("type")
            code = kind if isinstance(kind, str) and kind != "error" else None
        status = _CODE_STATUS.get(code or "", 500)
        message = fields.get("message")
        error = {"message": message if isinstance(message, str) else None, "code": code, "param": fields.get("param")}
        return self._map_error(status, orjson.dumps({"error": error}), {})

    def finish(self) -> list[bytes]:
        if self._failure is not None:
            raise self._failure
        if not self._finished:
            raise StreamInterruptedError(f"provider {self._provider} ended the stream before it finished")
        return []
