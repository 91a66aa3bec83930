"""Prompt and answer content for spans, only when ``observability.tracing.capture_content`` is on, in the shapes of
the GenAI semantic conventions: ``gen_ai.system_instructions`` (a list of parts), ``gen_ai.input.messages`` and
``gen_ai.output.messages`` (``{"role", "parts": [...], "finish_reason"}``), recorded as JSON strings on the upstream
span. Parts: ``text``, ``tool_call`` (id, name, arguments), ``tool_call_response`` (id, response), ``uri`` (an image
by URL) and a generic ``image`` part for inline images (their bytes are never copied into a span).

The input is the canonical (OpenAI chat) request; the output is read from an OpenAI-format answer, whole or
streamed (``StreamCapture`` relays the stream and assembles each choice). Answers passed through in another dialect
(Anthropic Messages, the Responses API) are recorded on the input side only. Each text is cut to ``limit`` chars.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from wardgate.core.streams import close_quietly
from wardgate.core.types import StreamSource

_SYSTEM_ROLES = frozenset({"system", "developer"})


def _text(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[:limit]


def _arguments(raw: Any, limit: int) -> Any:
    if isinstance(raw, str):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _text(raw, limit)
        return parsed if len(raw) <= limit else _text(raw, limit)
    return raw


def _content_parts(content: Any, limit: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": _text(content, limit)}]
    parts: list[dict[str, Any]] = []
    for item in content if isinstance(content, list) else [content]:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text" or kind == "input_text":
            parts.append({"type": "text", "content": _text(item.get("text", ""), limit)})
        elif kind == "image_url":
            url = item.get("image_url", {})
            url = url.get("url", "") if isinstance(url, dict) else url
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                parts.append({"type": "uri", "modality": "image", "uri": _text(url, limit)})
            else:
                parts.append({"type": "image"})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def _tool_calls(calls: Any, limit: int) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": _arguments(function.get("arguments"), limit),
                }
            )
    return parts


def input_attributes(body: dict[str, Any], limit: int) -> dict[str, str]:
    """``gen_ai.input.messages`` and ``gen_ai.system_instructions`` of a canonical chat body (empty when it has
    no messages)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return {}
    system: list[dict[str, Any]] = []
    converted: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in _SYSTEM_ROLES:
            system += _content_parts(message.get("content"), limit)
        elif role == "tool":
            response = _text(message.get("content"), limit)
            part = {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": response}
            converted.append({"role": "tool", "parts": [part]})
        else:
            parts = _content_parts(message.get("content"), limit) + _tool_calls(message.get("tool_calls"), limit)
            converted.append({"role": str(role), "parts": parts})
    found = {"gen_ai.input.messages": orjson.dumps(converted).decode()}
    if system:
        found["gen_ai.system_instructions"] = orjson.dumps(system).decode()
    return found


def output_messages(parsed: Any, limit: int) -> str | None:
    """``gen_ai.output.messages`` of a whole OpenAI chat answer (None when it is not one)."""
    choices = parsed.get("choices") if isinstance(parsed, dict) else None
    if not isinstance(choices, list):
        return None
    out: list[dict[str, Any]] = []
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        message = message if isinstance(message, dict) else {}
        parts = _content_parts(message.get("content"), limit) + _tool_calls(message.get("tool_calls"), limit)
        reason = choice.get("finish_reason") or "error"
        out.append({"role": message.get("role") or "assistant", "parts": parts, "finish_reason": reason})
    return orjson.dumps(out).decode()


class _Choice:
    __slots__ = ("calls", "reason", "text")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.reason: str | None = None


class StreamCapture:
    """Relays an OpenAI-format event stream unchanged while assembling its answer (content, tool calls, finish
    reasons, model, id) for the span."""

    __slots__ = ("_choices", "_inner", "model", "response_id")

    def __init__(self, inner: StreamSource) -> None:
        self._inner = inner
        self._choices: dict[int, _Choice] = {}
        self.model: str | None = None
        self.response_id: str | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        item = await self._inner.__anext__()
        with contextlib.suppress(orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
            self._feed(orjson.loads(item))
        return item

    async def aclose(self) -> None:
        await close_quietly(self._inner)

    def _feed(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        if self.model is None and isinstance(chunk.get("model"), str):
            self.model, self.response_id = chunk["model"], chunk.get("id")
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice()
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                state.text.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                self._call_delta(state, call)
            if choice.get("finish_reason"):
                state.reason = choice["finish_reason"]

    @staticmethod
    def _call_delta(state: _Choice, call: dict[str, Any]) -> None:
        slot = state.calls.setdefault(call.get("index", 0), {"id": None, "name": None, "arguments": []})
        slot["id"] = call.get("id") or slot["id"]
        function = call.get("function") or {}
        slot["name"] = function.get("name") or slot["name"]
        if isinstance(function.get("arguments"), str):
            slot["arguments"].append(function["arguments"])

    @property
    def finish_reasons(self) -> list[str]:
        return [self._choices[i].reason or "error" for i in sorted(self._choices)]

    def output(self, limit: int) -> str:
        out: list[dict[str, Any]] = []
        for index in sorted(self._choices):
            state = self._choices[index]
            parts: list[dict[str, Any]] = []
            if state.text:
                parts.append({"type": "text", "content": _text("".join(state.text), limit)})
            for slot in (state.calls[i] for i in sorted(state.calls)):
                arguments = _arguments("".join(slot["arguments"]), limit)
                parts.append({"type": "tool_call", "id": slot["id"], "name": slot["name"], "arguments": arguments})
            out.append({"role": "assistant", "parts": parts, "finish_reason": state.reason or "error"})
        return orjson.dumps(out).decode()
