"""Prompt and response content for audit records, for teams whose content mode is ``redacted`` or ``full``.

The prompt is what the client sent, in its dialect (chat ``messages``; Anthropic ``system`` and ``messages``;
Responses ``instructions`` and ``input``; embeddings ``input``). The response is reduced to what a reader needs:
the answer's text and its tool calls (never embedding vectors). A stream is captured as it passes (only for those
teams: ``StreamCapture``) and reduced when it ends. ``redacted`` runs ``policy.detect`` over both; text beyond
``max_chars`` is cut and marked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from wardgate.core.types import RESPONSES_DIALECT as RESPONSES
from wardgate.core.types import ProxyRequest, StreamSource
from wardgate.policy import redact, redact_messages


class StreamCapture:
    """Relays a stream and keeps its items (up to ``max_bytes``) for the audit record."""

    __slots__ = ("_inner", "dialect", "items", "max_bytes", "size", "truncated")

    def __init__(self, inner: StreamSource, dialect: str, max_bytes: int) -> None:
        self._inner = inner
        self.dialect = dialect
        self.items: list[bytes] = []
        self.max_bytes = max_bytes
        self.size = 0
        self.truncated = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        item = await self._inner.__anext__()
        if self.size < self.max_bytes:
            self.items.append(item)
            self.size += len(item)
        else:
            self.truncated = True
        return item

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


def prompt_of(request: ProxyRequest) -> Any:
    native = request.native
    if native is not None:
        body = native.body
        if native.dialect == RESPONSES:
            return {"instructions": body.get("instructions"), "input": body.get("input")}
        return {"system": body.get("system"), "messages": body.get("messages")}
    body = request.body
    if "messages" in body:
        return {"messages": body.get("messages")}
    return {"input": body.get("input")}


def answer_of_body(dialect: str, body: bytes | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"text": None, "unparsed": True}
    if not isinstance(parsed, dict):
        return None
    answer = _Answer()
    if dialect == "anthropic":
        answer.blocks(parsed.get("content"))
    elif dialect == RESPONSES:
        answer.output_items(parsed.get("output"))
    elif isinstance(parsed.get("data"), list):  # embeddings
        return {"embeddings": len(parsed["data"])}
    else:
        for choice in parsed.get("choices") or ():
            answer.message(choice.get("message") if isinstance(choice, dict) else None)
    return answer.result()


def answer_of_stream(capture: StreamCapture) -> dict[str, Any]:
    answer = _Answer()
    for item in capture.items:
        for event in _events(capture.dialect, item):
            answer.event(capture.dialect, event)
    result = answer.result()
    if capture.truncated:
        result["truncated"] = True
    return result


def _events(dialect: str, item: bytes) -> list[dict[str, Any]]:
    """Stream items are bare JSON payloads for "openai", framed SSE events for a native dialect."""
    payloads = (
        [item] if dialect == "openai" else [line[5:].strip() for line in item.split(b"\n") if line[:5] == b"data:"]
    )
    events = []
    for payload in payloads:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


class _Answer:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.tools: dict[Any, dict[str, Any]] = {}

    def message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if isinstance(message.get("content"), str):
            self.text.append(message["content"])
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            self.tools[len(self.tools)] = {"name": function.get("name"), "arguments": function.get("arguments")}

    def blocks(self, blocks: Any) -> None:
        for block in blocks or ():
            if block.get("type") == "text":
                self.text.append(block.get("text") or "")
            elif block.get("type") == "tool_use":
                self.tools[len(self.tools)] = {"name": block.get("name"), "arguments": block.get("input")}

    def output_items(self, items: Any) -> None:
        for item in items or ():
            if item.get("type") == "message":
                for part in item.get("content") or ():
                    if part.get("type") == "output_text":
                        self.text.append(part.get("text") or "")
            elif item.get("type") == "function_call":
                self.tools[len(self.tools)] = {"name": item.get("name"), "arguments": item.get("arguments")}

    def event(self, dialect: str, event: dict[str, Any]) -> None:
        if dialect == "anthropic":
            self._anthropic_event(event)
        elif dialect == RESPONSES:
            if event.get("type") == "response.output_text.delta":
                self.text.append(event.get("delta") or "")
            elif event.get("type") == "response.output_item.done":
                item = event.get("item") or {}
                if item.get("type") == "function_call":  # message text came as deltas
                    self.output_items([item])
        else:
            for choice in event.get("choices") or ():
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    self.text.append(delta["content"])
                for call in delta.get("tool_calls") or ():
                    slot = self.tools.setdefault(call.get("index", 0), {"name": None, "arguments": ""})
                    function = call.get("function") or {}
                    slot["name"] = slot["name"] or function.get("name")
                    slot["arguments"] = (slot["arguments"] or "") + (function.get("arguments") or "")

    def _anthropic_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.tools[event.get("index")] = {"name": block.get("name"), "arguments": ""}
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                self.text.append(delta.get("text") or "")
            elif delta.get("type") == "input_json_delta" and event.get("index") in self.tools:
                self.tools[event["index"]]["arguments"] += delta.get("partial_json") or ""

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"text": "".join(self.text) if self.text else None}
        if self.tools:
            result["tool_calls"] = list(self.tools.values())
        return result


def content_block(mode: str, prompt: Any, answer: dict[str, Any] | None, max_chars: int) -> dict[str, Any]:
    """The record's ``content``: redacted when ``mode`` says so, long text cut at ``max_chars``."""
    if mode == "redacted":
        prompt = redact_messages(prompt)
        if answer is not None and isinstance(answer.get("text"), str):
            answer = {**answer, "text": redact(answer["text"])}
        if answer is not None and answer.get("tool_calls"):
            answer = {**answer, "tool_calls": redact_messages(answer["tool_calls"])}
    block: dict[str, Any] = {"mode": mode, "prompt": prompt, "response": answer}
    text = orjson.dumps(block)
    if len(text) > max_chars:
        cut = text[:max_chars].decode(errors="ignore")
        return {"mode": mode, "truncated": True, "excerpt": cut}
    return block
