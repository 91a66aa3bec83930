"""Canonical ``chat.completion.chunk`` dicts → the Responses API event stream, incrementally.

``start()`` gives ``response.created`` and ``response.in_progress`` (the Response ``in_progress``, empty output);
``feed(chunk)`` the events for one chunk; ``finish()`` closes what is open and gives the terminal
``response.completed`` — or ``response.incomplete`` for finish_reason length / content_filter — carrying the whole
Response with usage (the usage-only chunk ``stream_options.include_usage`` adds at the end). ``sequence_number``
counts from 0 over the whole stream; an item's ``output_index`` is its place in the final ``output``.

Per output item (https://platform.openai.com/docs/api-reference/responses-streaming):
* text (``content`` deltas): ``response.output_item.added`` (message, ``in_progress``, content []),
  ``response.content_part.added`` (``output_text``, text ""), ``response.output_text.delta``\\s (with the chunk's
  logprobs, else []), ``response.output_text.done``, ``response.content_part.done``,
  ``response.output_item.done`` (``completed``). ``refusal`` deltas are a ``refusal`` part of the same message
  (``response.refusal.delta`` / ``.done``).
* tool calls: ``response.output_item.added`` (function_call, ``arguments`` "", ``in_progress``) once the call's
  name is known (fragments before it are held back), ``response.function_call_arguments.delta``\\s,
  ``response.function_call_arguments.done``, ``response.output_item.done``. Chat streams may interleave calls by
  ``index``, so every call stays open until the choice finishes; their done events then come in output order.
* reasoning (``reasoning_content`` / ``reasoning`` deltas, a canonical extension): a ``reasoning`` item —
  ``response.content_part.added`` (``reasoning_text``), ``response.reasoning_text.delta``\\s,
  ``response.reasoning_text.done``, ``response.content_part.done``, ``response.output_item.done``. A
  ``thinking_blocks`` delta (Anthropic's signed block) goes into the item's ``encrypted_content`` and ends it.

A reasoning item closes when text or a tool call starts, a message when reasoning or a tool call starts; text
after a tool call opens a new message. On finish_reason length / content_filter, the items still open are closed
``incomplete``. Only choice 0 is read. Accumulating the events (as the openai SDK does) gives ``response``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.api.responses.translate.common import JSONDict, new_id
from wardgate.api.responses.translate.response import (
    arguments_text,
    base_response,
    call_id,
    finish_status,
    reasoning_text,
    response_usage,
    text_logprobs,
)
from wardgate.api.responses.translate.stream_items import StreamItem, StreamPart
from wardgate.core.errors import StreamInterruptedError


class ChatChunksToResponseEvents:
    """``start()``, then ``feed()`` each chat chunk dict, then ``finish()`` when the canonical stream ends."""

    def __init__(self, request: Mapping[str, Any], *, response_id: str, created_at: int, model: str) -> None:
        self._response = base_response(request, response_id=response_id, created_at=created_at, model=model)
        self._sequence = 0
        self._started = False
        self._done = False
        self._output: list[StreamItem] = []
        self._message: StreamItem | None = None
        self._reasoning: StreamItem | None = None
        self._tools: dict[Any, StreamItem] = {}
        self._all_tools: list[StreamItem] = []
        self._last_key: Any = 0
        self._finished = False
        self._finish_reason: Any = None
        self._usage: JSONDict | None = None

    @property
    def response(self) -> JSONDict:
        """The Response object: final (with output and usage) once ``finish()`` has run."""
        return self._response

    def start(self) -> list[JSONDict]:
        """``response.created`` and ``response.in_progress`` (once; ``feed`` starts the stream if needed)."""
        if self._started:
            return []
        self._started = True
        return [
            self._event("response.created", response={**self._response, "output": []}),
            self._event("response.in_progress", response={**self._response, "output": []}),
        ]

    def feed(self, chunk: Mapping[str, Any]) -> list[JSONDict]:
        """The events for one chat chunk (none once the stream is finished)."""
        if self._done:
            return []
        out = self.start()
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0 and not self._finished:
                self._choice(choice, out)
        usage = response_usage(chunk)
        if usage is not None:
            self._usage = usage
        if isinstance(chunk.get("service_tier"), str):
            self._response["service_tier"] = chunk["service_tier"]
        return out

    def finish(self) -> list[JSONDict]:
        """Close the open items and send the terminal event with the whole Response."""
        if self._done:
            return []
        out = self.start()
        self._close_all(out)
        status, details = finish_status(self._finish_reason)
        output = [item.snapshot() for item in self._output]
        self._response.update(status=status, incomplete_details=details, output=output, usage=self._usage)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._event(kind, response=self._response))
        self._done = True
        return out

    # -------------------------------------------------------------------------------------------------- flow

    def _event(self, kind: str, **fields: Any) -> JSONDict:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def _choice(self, choice: Mapping[str, Any], out: list[JSONDict]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            reasoning = reasoning_text(delta)
            if reasoning:
                self._reasoning_delta(reasoning, out)
            blocks = delta.get("thinking_blocks")
            if isinstance(blocks, list) and blocks:
                self._thinking(blocks, out)
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._text("output_text", content, text_logprobs(choice.get("logprobs")), out)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._text("refusal", refusal, [], out)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else []:
                if isinstance(call, Mapping):
                    self._tool_fragment(call, out)
        if choice.get("finish_reason") is not None:
            self._finished = True
            self._finish_reason = choice["finish_reason"]
            self._close_all(out)

    def _add(self, item: StreamItem, out: list[JSONDict]) -> StreamItem:
        item.index = len(self._output)
        self._output.append(item)
        out.append(self._event("response.output_item.added", output_index=item.index, item=item.snapshot()))
        return item

    def _done_item(self, item: StreamItem, out: list[JSONDict]) -> None:
        item.status = "incomplete" if self._finished and finish_status(self._finish_reason)[1] else "completed"
        out.append(self._event("response.output_item.done", output_index=item.index, item=item.snapshot()))

    def _close_all(self, out: list[JSONDict]) -> None:
        self._close_reasoning(out)
        self._close_message(out)
        for tool in sorted(self._all_tools, key=lambda t: t.index):
            if tool.status == "in_progress":
                self._close_tool(tool, out)

    @staticmethod
    def _where(item: StreamItem) -> JSONDict:
        return {"item_id": item.id, "output_index": item.index}

    # ------------------------------------------------------------------------------------- reasoning and text

    def _reasoning_delta(self, text: str, out: list[JSONDict]) -> None:
        item = self._open_reasoning(out)
        if not item.part_open:
            item.part_open = True
            part = {"type": "reasoning_text", "text": ""}
            out.append(self._event("response.content_part.added", **self._where(item), content_index=0, part=part))
        item.text += text
        out.append(self._event("response.reasoning_text.delta", **self._where(item), content_index=0, delta=text))

    def _open_reasoning(self, out: list[JSONDict]) -> StreamItem:
        """The open reasoning item, or a new one (which ends the open message)."""
        if self._reasoning is None:
            self._close_message(out)
            self._reasoning = self._add(StreamItem("reasoning", new_id("rs")), out)
        return self._reasoning

    def _thinking(self, blocks: list[Any], out: list[JSONDict]) -> None:
        item = self._open_reasoning(out)
        item.blocks.extend(block for block in blocks if isinstance(block, Mapping))
        self._close_reasoning(out)

    def _close_reasoning(self, out: list[JSONDict]) -> None:
        item, self._reasoning = self._reasoning, None
        if item is None:
            return
        if item.part_open:
            where = {**self._where(item), "content_index": 0}
            out.append(self._event("response.reasoning_text.done", **where, text=item.text))
            part = {"type": "reasoning_text", "text": item.text}
            out.append(self._event("response.content_part.done", **where, part=part))
        self._done_item(item, out)

    def _text(self, kind: str, text: str, logprobs: list[JSONDict], out: list[JSONDict]) -> None:
        self._close_reasoning(out)
        item = self._message
        if item is None:
            item = self._message = self._add(StreamItem("message", new_id("msg")), out)
        if not item.part_open or item.parts[-1].kind != kind:
            self._close_part(item, out)
            item.parts.append(StreamPart(kind))
            item.part_open = True
            where = {**self._where(item), "content_index": len(item.parts) - 1}
            out.append(self._event("response.content_part.added", **where, part=item.parts[-1].snapshot()))
        part = item.parts[-1]
        part.text += text
        part.logprobs += logprobs
        where = {**self._where(item), "content_index": len(item.parts) - 1}
        if kind == "output_text":
            out.append(self._event("response.output_text.delta", **where, delta=text, logprobs=logprobs))
        else:
            out.append(self._event("response.refusal.delta", **where, delta=text))

    def _close_part(self, item: StreamItem, out: list[JSONDict]) -> None:
        if not item.part_open:
            return
        item.part_open = False
        part = item.parts[-1]
        where = {**self._where(item), "content_index": len(item.parts) - 1}
        if part.kind == "output_text":
            out.append(self._event("response.output_text.done", **where, text=part.text, logprobs=part.logprobs))
        else:
            out.append(self._event("response.refusal.done", **where, refusal=part.text))
        out.append(self._event("response.content_part.done", **where, part=part.snapshot()))

    def _close_message(self, out: list[JSONDict]) -> None:
        item, self._message = self._message, None
        if item is not None:
            self._close_part(item, out)
            self._done_item(item, out)

    # ------------------------------------------------------------------------------------------------- tools

    def _tool_fragment(self, call: Mapping[str, Any], out: list[JSONDict]) -> None:
        tool = self._tool_for(call)
        function = call.get("function")
        function = function if isinstance(function, Mapping) else {}
        name = function.get("name")
        if isinstance(name, str) and name and not tool.name:
            tool.name = name
        fragment = arguments_text(function.get("arguments"))
        if tool.index >= 0:
            if fragment:
                self._arguments(tool, fragment, out)
            return
        tool.pending += fragment
        if tool.name:
            self._close_reasoning(out)
            self._close_message(out)
            self._add(tool, out)
            if tool.pending:
                fragment, tool.pending = tool.pending, ""
                self._arguments(tool, fragment, out)

    def _arguments(self, tool: StreamItem, fragment: str, out: list[JSONDict]) -> None:
        tool.arguments += fragment
        out.append(self._event("response.function_call_arguments.delta", **self._where(tool), delta=fragment))

    def _close_tool(self, tool: StreamItem, out: list[JSONDict]) -> None:
        if tool.index < 0:
            raise StreamInterruptedError("the provider streamed a tool call without a name")
        where = self._where(tool)
        out.append(self._event("response.function_call_arguments.done", **where, arguments=tool.arguments))
        self._done_item(tool, out)

    def _tool_for(self, call: Mapping[str, Any]) -> StreamItem:
        """The tool call a fragment belongs to: by ``index``; a new ``id`` under a used index is a new call."""
        explicit = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else None
        index = call.get("index")
        key: Any = index if isinstance(index, int) and not isinstance(index, bool) else (explicit or self._last_key)
        self._last_key = key
        tool = self._tools.get(key)
        if tool is not None and explicit is not None and explicit != tool.call_id:
            if tool.explicit_id or tool.index >= 0:
                tool = None  # a provider that reuses one index for several calls
            else:
                tool.call_id, tool.explicit_id = explicit, True
        if tool is None:
            tool = StreamItem(
                "function_call", new_id("fc"), call_id=call_id(explicit), explicit_id=explicit is not None
            )
            self._tools[key] = tool
            self._all_tools.append(tool)
        return tool
