"""Anthropic-to-Anthropic passthrough: a client speaking the Messages API to an Anthropic deployment gets its
request forwarded untouched apart from ``model`` (thinking blocks, ``cache_control``, server tools and new fields
keep working), and the event stream relayed event by event, re-framed but not re-encoded.

The relay still knows when the stream really finished (``message_stop``) and turns an ``error`` event into the
gateway's error, so a cut stream never looks like a clean end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import StreamInterruptedError
from wardgate.providers.anthropic.errors import map_stream_error
from wardgate.providers.base import UpstreamCall
from wardgate.providers.sse import SSEDecoder

FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def native_headers(adapter_headers: Mapping[str, str], client_headers: Mapping[str, str]) -> dict[str, str]:
    """The adapter's headers, with the client's ``anthropic-version`` and its ``anthropic-beta`` flags added."""
    headers = dict(adapter_headers)
    version = client_headers.get("anthropic-version")
    if version:
        headers["anthropic-version"] = version
    betas = [b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()]
    for beta in client_headers.get("anthropic-beta", "").split(","):
        if beta.strip() and beta.strip() not in betas:
            betas.append(beta.strip())
    if betas:
        headers["anthropic-beta"] = ",".join(betas)
    return headers


def native_call(path: str, body: bytes, headers: dict[str, str], stream: bool) -> UpstreamCall:
    return UpstreamCall(path=path, body=body, stream=stream, headers=headers)


class NativeEventRelay:
    """Feeds raw upstream bytes, returns complete SSE frames (``event:``/``data:``) to send as they are."""

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self._finished = False

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        for event in self._decoder.feed(data):
            name = event.event or ""
            if name == "error":
                payload: Any = orjson.loads(event.data)
                raise map_stream_error(payload if isinstance(payload, dict) else {})
            if name == "message_stop":
                self._finished = True
            frames.append(b"event: " + name.encode() + b"\ndata: " + event.data + b"\n\n")
        return frames

    def finish(self) -> list[bytes]:
        if not self._finished:
            raise StreamInterruptedError("the provider ended the stream before message_stop")
        return []
