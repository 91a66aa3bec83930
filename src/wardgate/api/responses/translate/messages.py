"""Responses input items (normalised by ``items.input_items``) → chat ``messages``.

* ``message`` items of role user / system / developer → a message of that role. ``input_text`` → text parts (one
  text part becomes a plain string); ``input_image`` → an ``image_url`` part (``image_url`` may be a URL or a data
  URL; ``detail`` kept, ``original`` → ``high``, the closest chat detail); ``input_file`` with ``file_data`` → a
  chat ``file`` part (``file_data``, ``filename``). A ``file_id`` (image or file) or a ``file_url`` raises: a chat
  provider cannot resolve OpenAI file ids or fetch documents. System and developer messages take text only. A
  ``prompt_cache_breakpoint`` on a part becomes the canonical ``cache_control: {"type": "ephemeral"}`` marker.
* assistant ``message`` items → an assistant message whose content is the text of its ``output_text`` and
  ``refusal`` parts; ``phase`` has no chat equivalent and is left out.
* ``function_call`` items → ``tool_calls`` (``call_id`` is the tool call id): consecutive calls, and calls right
  after an assistant message, join that one assistant message, as a chat assistant turn holds its text and calls.
* ``function_call_output`` → a ``tool`` message (``tool_call_id`` = ``call_id``). Chat tool messages take text
  only: images and files in an array output move to one user message right after the run of tool messages
  (introduced by ``Images returned by tool call <id>:``) and the tool message says ``TOOL_MEDIA_NOTE``.
* ``reasoning`` items are kept, cheaply, as the canonical extension fields of the assistant message that follows
  them: their ``reasoning_text`` content (else their summary texts) as ``reasoning_content``, and signed thinking the
  gateway itself packed into ``encrypted_content`` (``common.encode_thinking``) as ``thinking_blocks`` — so
  Anthropic's signed thinking survives a tool-use round trip. OpenAI's own encrypted reasoning means nothing to
  another provider and is left out, as is a reasoning item that no assistant message follows.
* Any other item type (``item_reference``, computer / MCP / shell / built-in tool calls …) raises: only an OpenAI
  deployment can serve it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wardgate.api.responses.translate.common import (
    JSONDict,
    decode_thinking,
    missing,
    unsupported,
)
from wardgate.core.errors import InvalidRequestError

IMAGE_DETAILS = {"auto": "auto", "low": "low", "high": "high", "original": "high"}
TOOL_MEDIA_NOTE = "[The tool returned image or file content; it follows in the next user message.]"


def items_to_messages(items: list[JSONDict]) -> list[JSONDict]:
    """The chat messages for normalised input items (never mutated)."""
    conversation = _Conversation()
    for i, item in enumerate(items):
        conversation.add(item, f"input[{i}]")
    return conversation.finish()


@dataclass(slots=True)
class _Conversation:
    messages: list[JSONDict] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    thinking_blocks: list[Any] = field(default_factory=list)
    media: list[JSONDict] = field(default_factory=list)
    """Images and files from the current run of tool outputs, for the user message that follows it."""

    def add(self, item: Mapping[str, Any], where: str) -> None:
        kind = item.get("type")
        if kind != "function_call_output":
            self._flush_media()
        if kind == "message":
            if item.get("role") == "assistant":
                self._assistant(item, where)
            else:
                self._forget_reasoning()
                role = str(item.get("role"))
                self.messages.append({"role": role, "content": input_content(role, item.get("content"), where)})
        elif kind == "function_call":
            self._function_call(item)
        elif kind == "function_call_output":
            self._forget_reasoning()
            self._tool_output(item, where)
        elif kind == "reasoning":
            self._reasoning(item)
        else:
            raise unsupported(f"{where}.type", f"The input item type '{kind}'")

    def finish(self) -> list[JSONDict]:
        self._flush_media()
        return self.messages

    # --------------------------------------------------------------------------------------------- assistant

    def _assistant(self, item: Mapping[str, Any], where: str) -> None:
        texts = []
        for j, part in enumerate(item.get("content") or []):
            kind = part.get("type")
            if kind in ("output_text", "input_text"):
                texts.append(part.get("text") or "")
            elif kind == "refusal":
                texts.append(part.get("refusal") or "")
            else:
                raise unsupported(f"{where}.content[{j}].type", f"The assistant content part type '{kind}'")
        self.messages.append(self._with_reasoning({"role": "assistant", "content": "".join(texts)}))

    def _function_call(self, item: Mapping[str, Any]) -> None:
        call = {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": item["name"], "arguments": item["arguments"]},
        }
        last = self.messages[-1] if self.messages else None
        if last is None or last.get("role") != "assistant":
            last = {"role": "assistant", "content": None}
            self.messages.append(last)
        last.setdefault("tool_calls", []).append(call)
        self._with_reasoning(last)

    def _with_reasoning(self, message: JSONDict) -> JSONDict:
        if self.reasoning:
            message["reasoning_content"] = message.get("reasoning_content", "") + "".join(self.reasoning)
        if self.thinking_blocks:
            message["thinking_blocks"] = [*message.get("thinking_blocks", []), *self.thinking_blocks]
        self._forget_reasoning()
        return message

    def _reasoning(self, item: Mapping[str, Any]) -> None:
        content = [part.get("text") or "" for part in item.get("content") or [] if isinstance(part, Mapping)]
        if not any(content):
            summary = [part.get("text") or "" for part in item.get("summary") or [] if isinstance(part, Mapping)]
            content = ["\n\n".join(text for text in summary if text)]
        self.reasoning.extend(text for text in content if text)
        self.thinking_blocks.extend(decode_thinking(item.get("encrypted_content")))

    def _forget_reasoning(self) -> None:
        self.reasoning, self.thinking_blocks = [], []

    # ------------------------------------------------------------------------------------------------- tools

    def _tool_output(self, item: Mapping[str, Any], where: str) -> None:
        call_id, output = item["call_id"], item.get("output")
        if isinstance(output, str):
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
            return
        texts: list[JSONDict] = []
        media: list[JSONDict] = []
        for j, part in enumerate(output if isinstance(output, list) else []):
            converted = _user_part(part, f"{where}.output[{j}]")
            (texts if converted["type"] == "text" else media).append(converted)
        if media:
            texts.append({"type": "text", "text": TOOL_MEDIA_NOTE})
            self.media += [{"type": "text", "text": f"Images returned by tool call {call_id}:"}, *media]
        plain = len(texts) == 1 and "cache_control" not in texts[0]
        content: str | list[JSONDict] = texts[0]["text"] if plain else (texts or "")
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": content})

    def _flush_media(self) -> None:
        if self.media:
            self.messages.append({"role": "user", "content": self.media})
            self.media = []


def input_content(role: str, content: Any, where: str) -> str | list[JSONDict]:
    """Chat content for a user / system / developer message's parts: a string when it is one plain text part."""
    parts = [_user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content or [])]
    if role != "user":
        for j, part in enumerate(parts):
            if part["type"] != "text":
                raise InvalidRequestError(
                    f"Invalid content for a {role} message: only text parts are supported.",
                    param=f"{where}.content[{j}]",
                )
    if len(parts) == 1 and parts[0]["type"] == "text" and "cache_control" not in parts[0]:
        text: str = parts[0]["text"]
        return text
    return parts


def _user_part(part: Mapping[str, Any], where: str) -> JSONDict:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        out: JSONDict = {"type": "text", "text": part.get("text") or ""}
    elif kind == "input_image":
        out = {"type": "image_url", "image_url": _image(part, where)}
    elif kind == "input_file":
        out = {"type": "file", "file": _file(part, where)}
    else:
        raise unsupported(f"{where}.type", f"The content part type '{kind}'")
    if part.get("prompt_cache_breakpoint") is not None:
        out["cache_control"] = {"type": "ephemeral"}
    return out


def _image(part: Mapping[str, Any], where: str) -> JSONDict:
    if part.get("file_id") is not None:
        raise unsupported(f"{where}.file_id", "An image given by file_id")
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise missing(f"{where}.image_url")
    image: JSONDict = {"url": url}
    detail = part.get("detail")
    if detail is not None:
        if detail not in IMAGE_DETAILS:
            raise InvalidRequestError(
                f"Invalid value: '{detail}'. Supported values are: 'low', 'high', 'auto' and 'original'.",
                param=f"{where}.detail",
                code="invalid_value",
            )
        image["detail"] = IMAGE_DETAILS[detail]
    return image


def _file(part: Mapping[str, Any], where: str) -> JSONDict:
    for key in ("file_id", "file_url"):
        if part.get(key) is not None:
            raise unsupported(f"{where}.{key}", f"A file given by {key}")
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        raise missing(f"{where}.file_data")
    file: JSONDict = {"file_data": data}
    if isinstance(part.get("filename"), str):
        file["filename"] = part["filename"]
    return file
