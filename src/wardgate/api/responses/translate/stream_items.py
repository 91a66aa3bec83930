"""Output items under construction while a Responses stream runs (``stream``): what each has received so far;
``snapshot()`` gives the item as it appears in events and, once done, in the final Response's ``output``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wardgate.api.responses.translate.common import JSONDict
from wardgate.api.responses.translate.response import function_call_item, message_item, reasoning_item, text_part


@dataclass(slots=True)
class StreamPart:
    """One content part of a streamed message."""

    kind: str  # output_text | refusal
    text: str = ""
    logprobs: list[JSONDict] = field(default_factory=list)

    def snapshot(self) -> JSONDict:
        if self.kind == "refusal":
            return {"type": "refusal", "refusal": self.text}
        return text_part(self.text, self.logprobs)


@dataclass(slots=True)
class StreamItem:
    """One streamed output item; ``index`` is its ``output_index`` (-1 until ``response.output_item.added``)."""

    kind: str  # message | reasoning | function_call
    id: str
    index: int = -1
    status: str = "in_progress"
    parts: list[StreamPart] = field(default_factory=list)
    part_open: bool = False
    text: str = ""
    blocks: list[Any] = field(default_factory=list)
    call_id: str = ""
    explicit_id: bool = False
    name: str = ""
    arguments: str = ""
    pending: str = ""

    def snapshot(self) -> JSONDict:
        if self.kind == "message":
            return message_item(self.id, [part.snapshot() for part in self.parts], self.status)
        if self.kind == "reasoning":
            return reasoning_item(self.id, self.text, self.blocks, self.status)
        return function_call_item(self.id, self.call_id, self.name, self.arguments, self.status)
