"""``input_items``: a request's ``input`` as the list of Responses items the gateway stores (and lists through
``GET /v1/responses/{id}/input_items``); ``conversation_items``: what a later ``previous_response_id`` continues.

Normalisation, so every item of the kinds below validates as the SDK's ``ResponseItem``:

* a string → one user ``message`` with an ``input_text`` part;
* "easy" messages (``{"role", "content"}``, no ``type``) → ``type: "message"``; string content → one
  ``input_text`` part (``output_text`` with ``annotations: []`` for the assistant); an assistant's ``input_text``
  parts become ``output_text`` (its content is model output);
* ``input_image`` parts get ``detail: "auto"`` when they have none, ``output_text`` parts ``annotations: []``;
* items without an ``id`` get one (``msg_``, ``fc_`` for function_call, ``fco_`` for function_call_output, ``rs_``
  for reasoning, + 48 random hex digits, like OpenAI's); messages, function calls and their outputs get
  ``status: "completed"`` when they have none.

Every other field is kept as sent. Items of other types (``item_reference``, computer, MCP, built-in tool calls,
…) are kept unchanged: an OpenAI deployment serves them natively; the chat translation refuses them. Structural
errors (an item that is not an object, a bad role, content that is neither a string nor an array, a function call
without ``call_id``, …) raise ``InvalidRequestError`` with the item's path as ``param``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.api.responses.translate.common import (
    JSONDict,
    invalid_type,
    invalid_value,
    missing,
    new_id,
    require_str,
)

INPUT_ROLES = ("user", "system", "developer")
ROLES = (*INPUT_ROLES, "assistant")
ID_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


def input_items(input: str | list[JSONDict]) -> list[JSONDict]:
    """The request's ``input`` as normalised Responses items (never mutates ``input``)."""
    if isinstance(input, str):
        return [_message({"role": "user", "content": input}, "input")]
    if not isinstance(input, list):
        raise invalid_type("input", "a string or an array of input items", input)
    return [_item(item, f"input[{i}]") for i, item in enumerate(input)]


def conversation_items(input_items: list[JSONDict], response: Mapping[str, Any]) -> list[JSONDict]:
    """The items a ``previous_response_id`` continuation starts from: the input items, then the response's output
    items (OpenAI accepts output items as input as they are)."""
    output = response.get("output")
    produced = [dict(item) for item in output if isinstance(item, Mapping)] if isinstance(output, list) else []
    return [dict(item) for item in input_items] + produced


def _item(item: Any, where: str) -> JSONDict:
    if not isinstance(item, Mapping):
        raise invalid_type(where, "an object", item)
    kind = item.get("type")
    if kind is None:
        if "role" not in item:
            raise missing(f"{where}.type")
        kind = "message"
    if not isinstance(kind, str):
        raise invalid_type(f"{where}.type", "a string", kind)
    if kind == "message":
        return _message(item, where)
    if kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            require_str(item, key, where)
        return _with_defaults(item, kind, status=True)
    if kind == "function_call_output":
        require_str(item, "call_id", where)
        _output(item.get("output"), f"{where}.output")
        return _with_defaults(item, kind, status=True)
    if kind == "reasoning":
        return _reasoning(item, where)
    return dict(item)


def _with_defaults(item: Mapping[str, Any], kind: str, *, status: bool) -> JSONDict:
    out = dict(item)
    out["type"] = kind
    if not isinstance(out.get("id"), str) or not out["id"]:
        out["id"] = new_id(ID_PREFIXES[kind])
    if status and out.get("status") is None:
        out["status"] = "completed"
    return out


def _message(item: Mapping[str, Any], where: str) -> JSONDict:
    role = item.get("role")
    if role is None:
        raise missing(f"{where}.role")
    if role not in ROLES:
        raise invalid_value(f"{where}.role", role, ROLES)
    if "content" not in item or item["content"] is None:
        raise missing(f"{where}.content")
    out = _with_defaults(item, "message", status=True)
    out["content"] = _content(role, item["content"], f"{where}.content")
    return out


def _content(role: str, content: Any, where: str) -> list[JSONDict]:
    assistant = role == "assistant"
    if isinstance(content, str):
        if assistant:
            return [{"type": "output_text", "text": content, "annotations": []}]
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise invalid_type(where, "a string or an array of content parts", content)
    return [_part(part, f"{where}[{j}]", assistant) for j, part in enumerate(content)]


def _part(part: Any, where: str, assistant: bool) -> JSONDict:
    if not isinstance(part, Mapping):
        raise invalid_type(where, "an object", part)
    kind = require_str(part, "type", where)
    out = dict(part)
    if kind in ("input_text", "output_text"):
        require_str(part, "text", where)
        if assistant or kind == "output_text":
            out["type"] = "output_text"
            if out.get("annotations") is None:
                out["annotations"] = []
    elif kind == "refusal":
        require_str(part, "refusal", where)
    elif kind == "input_image":
        if part.get("image_url") is None and part.get("file_id") is None:
            raise missing(f"{where}.image_url")
        if out.get("detail") is None:
            out["detail"] = "auto"
    return out


def _output(output: Any, where: str) -> None:
    if output is None:
        raise missing(where)
    if isinstance(output, str):
        return
    if not isinstance(output, list):
        raise invalid_type(where, "a string or an array of content parts", output)
    for j, part in enumerate(output):
        if not isinstance(part, Mapping):
            raise invalid_type(f"{where}[{j}]", "an object", part)
        require_str(part, "type", f"{where}[{j}]")


def _reasoning(item: Mapping[str, Any], where: str) -> JSONDict:
    out = _with_defaults(item, "reasoning", status=False)
    summary = item.get("summary")
    if summary is None:
        out["summary"] = []
    elif not isinstance(summary, list):
        raise invalid_type(f"{where}.summary", "an array", summary)
    if item.get("content") is not None and not isinstance(item["content"], list):
        raise invalid_type(f"{where}.content", "an array", item["content"])
    for name in ("summary", "content"):
        parts = item.get(name)
        for j, part in enumerate(parts if isinstance(parts, list) else []):
            if not isinstance(part, Mapping):
                raise invalid_type(f"{where}.{name}[{j}]", "an object", part)
            require_str(part, "text", f"{where}.{name}[{j}]")
    return out
