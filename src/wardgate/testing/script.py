"""Scripted behaviours for the fake servers and the thread-safe FIFO queue that hands them out."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Endpoint = Literal["chat", "embeddings", "models"]
_ENDPOINTS = ("chat", "embeddings", "models")
_PROVIDERS = ("openai", "azure", "anthropic", "gemini", "vertex", "bedrock")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the fake should answer with. ``arguments`` may be a dict (JSON-encoded on the wire)."""

    name: str
    arguments: str | dict[str, Any] = "{}"
    id: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        unknown = set(data) - {"name", "arguments", "id"}
        if unknown or not isinstance(data.get("name"), str):
            raise ValueError(f"invalid tool call {dict(data)!r}")
        return cls(name=data["name"], arguments=data.get("arguments", "{}"), id=data.get("id"))


@dataclass(slots=True)
class Behavior:
    """How the fake answers one request. A scripted Behavior replaces the default entirely.

    Response shaping:
      latency           seconds to wait before sending the response headers
      status            HTTP status; >= 400 sends ``error_body`` (or the provider's default error body)
      error_body        dict (JSON-encoded) or raw bytes/str sent verbatim
      headers           extra response headers (``Retry-After``, ``retry-after-ms``, ``x-ratelimit-*`` ...)
      content           reply text (default: the deterministic default sentence, ``chunks`` words long)
      tool_calls        answer with these tool calls (finish_reason "tool_calls")
      reasoning         the model's reasoning text, sent before the answer even when the request did not ask for
                        reasoning: an Anthropic ``thinking`` block (signed), a Gemini thought part (with a
                        ``thoughtSignature`` where the model puts one: see ``fake_gemini.reply``), a Bedrock
                        ``reasoningContent`` block (signed); ``""`` suppresses the reasoning a request asked for;
                        None (default) sends the fake's default reasoning only when the request asks for it. The
                        OpenAI and Azure fakes ignore it.
      chunks            number of content deltas in a stream (default 20)
      chunk_interval    seconds between stream frames
      disconnect_after  close the TCP connection after this many SSE frames (no terminating chunk, no
                        ``[DONE]``); for a non-stream request, close without any response
      malformed         send invalid JSON: the whole body (non-stream) or one chunk (stream)
      usage             keys overriding the computed usage object
      finish_reason     override the finish reason
      served_model      override the ``model`` field of the response
    Matching (which requests consume it from the queue):
      match_endpoint    "chat" | "embeddings" | "models"; None matches chat and embeddings (not models)
      match_model       request model (Azure: deployment name) must equal this
      match_provider    "openai" | "azure"
      times             how many matching requests it answers before being dropped
    """

    latency: float = 0.0
    status: int = 200
    error_body: dict[str, Any] | bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning: str | None = None
    chunks: int | None = None
    chunk_interval: float = 0.0
    disconnect_after: int | None = None
    malformed: bool = False
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    served_model: str | None = None
    match_endpoint: Endpoint | None = None
    match_model: str | None = None
    match_provider: Literal["openai", "azure", "anthropic", "gemini", "vertex", "bedrock"] | None = None
    times: int = 1

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")
        if self.latency < 0 or self.chunk_interval < 0:
            raise ValueError("latency and chunk_interval must be >= 0")
        if self.chunks is not None and self.chunks < 1:
            raise ValueError("chunks must be >= 1")
        if self.disconnect_after is not None and self.disconnect_after < 0:
            raise ValueError("disconnect_after must be >= 0")
        if self.times < 1:
            raise ValueError("times must be >= 1")
        if self.match_endpoint is not None and self.match_endpoint not in _ENDPOINTS:
            raise ValueError(f"match_endpoint must be one of {_ENDPOINTS}")
        if self.match_provider is not None and self.match_provider not in _PROVIDERS:
            raise ValueError(f"match_provider must be one of {_PROVIDERS}")

    def matches(self, endpoint: Endpoint, model: str | None, provider: str) -> bool:
        if self.match_endpoint is None:
            if endpoint == "models":
                return False
        elif self.match_endpoint != endpoint:
            return False
        if self.match_model is not None and self.match_model != model:
            return False
        return self.match_provider is None or self.match_provider == provider

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Behavior:
        """Build from JSON-like data (the control API); unknown keys raise ValueError."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown Behavior fields: {sorted(unknown)}")
        kwargs = dict(data)
        calls = kwargs.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, list):
                raise ValueError("tool_calls must be a list")
            kwargs["tool_calls"] = [c if isinstance(c, ToolCall) else ToolCall.from_dict(c) for c in calls]
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ValueError(str(exc)) from exc

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (raw bytes error bodies decoded as UTF-8)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "tool_calls" and value is not None:
                value = [{"name": c.name, "arguments": c.arguments, "id": c.id} for c in value]
            elif isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            out[f.name] = value
        return out


class ScriptQueue:
    """FIFO of scripted behaviours; each request takes the first one that matches it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[list[Any]] = []  # [behavior, remaining uses]

    def push(self, behaviors: Iterable[Behavior]) -> None:
        with self._lock:
            self._items.extend([b, b.times] for b in behaviors)

    def take(self, endpoint: Endpoint, model: str | None, provider: str) -> Behavior | None:
        if not self._items:  # cheap unlocked fast path for the default behaviour
            return None
        with self._lock:
            for position, item in enumerate(self._items):
                behavior: Behavior = item[0]
                if behavior.matches(endpoint, model, provider):
                    item[1] -= 1
                    if item[1] <= 0:
                        del self._items[position]
                    return behavior
        return None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def pending(self) -> list[Behavior]:
        with self._lock:
            return [item[0] for item in self._items]

    def __len__(self) -> int:
        return len(self._items)
