"""Pure builders for the OpenAI Responses API wire format (``POST /v1/responses``), for ``FakeOpenAI``.

A Responses request is first seen as a chat request (:func:`chat_view`), so the chat fake's reply logic (scripted
content and tool calls, ``max_output_tokens`` truncation, JSON formats, usage overrides) decides what to answer;
the builders here render that :class:`~wardgate.testing.wire.ChatReply` as a ``response`` object or as the
Responses event stream (https://platform.openai.com/docs/api-reference/responses-streaming): ``response.created``,
``response.in_progress``, per output item ``output_item.added`` / ``content_part.added`` /
``output_text.delta``… / ``output_text.done`` / ``content_part.done`` / ``output_item.done`` (function calls:
``function_call_arguments.delta``… / ``.done``), then ``response.completed`` (or ``response.incomplete``), every
event with its ``sequence_number``. No ``[DONE]``: the finish event ends the stream.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.testing.wire import ChatReply, Flavor, JSONDict, split_arguments

_INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
_RESPONSES_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "output_tokens_details",
    "total_tokens",
)


def responses_id(prefix: str) -> str:
    """An id shaped like the Responses API's (``resp_`` / ``msg_`` / ``fc_`` + 48 hex digits)."""
    return prefix + os.urandom(24).hex()


# ------------------------------------------------------------------------------------------- request view


def chat_view(body: JSONDict) -> JSONDict:
    """The Responses request as the chat request the fake's reply logic understands (messages, tools, limits)."""
    messages: list[JSONDict] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    given = body.get("input")
    items = [{"role": "user", "content": given}] if isinstance(given, str) else given
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            messages.append(_as_message(item))
    view: JSONDict = {"messages": messages}
    tools = body.get("tools")
    if isinstance(tools, list):
        view["tools"] = [
            {"type": "function", "function": {"name": t.get("name"), "parameters": t.get("parameters")}}
            for t in tools
            if isinstance(t, dict) and t.get("type") == "function"
        ]
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        view["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        view["tool_choice"] = choice
    if body.get("max_output_tokens") is not None:
        view["max_completion_tokens"] = body["max_output_tokens"]
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        view["response_format"] = {"type": "json_schema", "json_schema": {"schema": fmt.get("schema")}}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_object":
        view["response_format"] = {"type": "json_object"}
    return view


def _as_message(item: JSONDict) -> JSONDict:
    if item.get("type") == "function_call_output":
        output = item.get("output")
        return {"role": "tool", "content": output if isinstance(output, str) else orjson.dumps(output).decode()}
    if item.get("type") == "function_call":
        return {"role": "assistant", "content": str(item.get("arguments") or "")}
    return {"role": item.get("role", "user"), "content": item.get("content")}


# ------------------------------------------------------------------------------------------------ replies


@dataclass(frozen=True, slots=True)
class ResponsesReply:
    """A chat reply plus what the Responses rendering adds: ids, the request echo and the final status."""

    chat: ChatReply
    request: JSONDict
    response_id: str
    message_id: str
    call_item_ids: tuple[str, ...]
    usage: JSONDict
    obfuscate: bool

    @classmethod
    def of(cls, chat: ChatReply, request: JSONDict, usage_override: JSONDict | None = None) -> ResponsesReply:
        """``usage_override``: the behaviour's usage keys (chat names are already in ``chat.usage``)."""
        options = request.get("stream_options")
        obfuscate = not (isinstance(options, dict) and options.get("include_obfuscation") is False)
        calls = tuple(responses_id("fc_") for _ in chat.tool_calls)
        usage = responses_usage(chat.usage, usage_override)
        return cls(chat, request, responses_id("resp_"), responses_id("msg_"), calls, usage, obfuscate)

    @property
    def status(self) -> str:
        return "incomplete" if self.chat.finish_reason in _INCOMPLETE_REASONS else "completed"


def responses_usage(chat_usage: JSONDict, override: JSONDict | None = None) -> JSONDict:
    """The Responses usage object for a chat usage block; Responses-named keys of ``override`` replace computed ones
    (``total_tokens`` follows input + output unless the override sets it)."""
    prompt = chat_usage.get("prompt_tokens_details") or {}
    completion = chat_usage.get("completion_tokens_details") or {}
    usage: JSONDict = {
        "input_tokens": chat_usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": prompt.get("cached_tokens", 0), "cache_write_tokens": 0},
        "output_tokens": chat_usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": completion.get("reasoning_tokens", 0)},
    }
    usage["total_tokens"] = int(usage["input_tokens"]) + int(usage["output_tokens"])
    if override:
        usage.update({k: override[k] for k in _RESPONSES_USAGE_KEYS if k in override})
        if "total_tokens" not in override:
            usage["total_tokens"] = int(usage["input_tokens"]) + int(usage["output_tokens"])
    return usage


def message_item(reply: ResponsesReply, status: str, text: str | None) -> JSONDict:
    content = [] if text is None else [_text_part(text)]
    return {"id": reply.message_id, "type": "message", "status": status, "content": content, "role": "assistant"}


def call_item(reply: ResponsesReply, index: int, status: str, arguments: str) -> JSONDict:
    call = reply.chat.tool_calls[index]
    return {
        "id": reply.call_item_ids[index],
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call.id,
        "name": call.name,
    }


def _text_part(text: str) -> JSONDict:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def output_items(reply: ResponsesReply) -> list[JSONDict]:
    items: list[JSONDict] = []
    if reply.chat.content is not None:
        items.append(message_item(reply, reply.status, reply.chat.content))
    items.extend(call_item(reply, i, "completed", c.arguments) for i, c in enumerate(reply.chat.tool_calls))
    return items


def response_object(reply: ResponsesReply, *, final: bool = True) -> JSONDict:
    """The ``response`` object: complete (``final``) or as ``response.created`` shows it (no output yet)."""
    body, chat = reply.request, reply.chat
    status = reply.status if final else "in_progress"
    given = body.get("text")
    text: JSONDict = given if isinstance(given, dict) else {}
    reason = _INCOMPLETE_REASONS.get(chat.finish_reason) if final else None
    return {
        "id": reply.response_id,
        "object": "response",
        "created_at": chat.created,
        "status": status,
        "background": False,
        "completed_at": chat.created if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": chat.model,
        "output": output_items(reply) if final else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": None, "summary": None},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity", "medium")},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [_echo_tool(t) for t in body.get("tools") or [] if isinstance(t, dict)],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": reply.usage if final else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _echo_tool(tool: JSONDict) -> JSONDict:
    if tool.get("type") != "function":
        return tool
    return {"description": None, "strict": True, **tool}


# ---------------------------------------------------------------------------------------------- streaming


class _Frames:
    """Numbered ``event:``/``data:`` frames."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def add(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": len(self.frames), **fields}
        self.frames.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")


def stream_frames(reply: ResponsesReply, arg_pieces: int) -> list[bytes]:
    """Every frame of a streamed response, in order, ending with ``response.completed`` / ``.incomplete``."""
    out = _Frames()
    out.add("response.created", response=response_object(reply, final=False))
    out.add("response.in_progress", response=response_object(reply, final=False))
    index = 0
    if reply.chat.content is not None:
        _message_frames(out, reply, index)
        index += 1
    for call_index, call in enumerate(reply.chat.tool_calls):
        item_id = reply.call_item_ids[call_index]
        out.add("response.output_item.added", output_index=index, item=call_item(reply, call_index, "in_progress", ""))
        for piece in split_arguments(call.arguments, arg_pieces):
            extra = _obfuscation(reply, piece)
            out.add("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=piece, **extra)
        out.add("response.function_call_arguments.done", item_id=item_id, output_index=index, arguments=call.arguments)
        done = call_item(reply, call_index, "completed", call.arguments)
        out.add("response.output_item.done", output_index=index, item=done)
        index += 1
    out.add(f"response.{reply.status}", response=response_object(reply))
    return out.frames


def _message_frames(out: _Frames, reply: ResponsesReply, index: int) -> None:
    text = reply.chat.content or ""
    where: JSONDict = {"item_id": reply.message_id, "output_index": index, "content_index": 0}
    out.add("response.output_item.added", output_index=index, item=message_item(reply, "in_progress", None))
    out.add("response.content_part.added", **where, part=_text_part(""))
    for piece in reply.chat.pieces:
        out.add("response.output_text.delta", **where, delta=piece, logprobs=[], **_obfuscation(reply, piece))
    out.add("response.output_text.done", **where, text=text, logprobs=[])
    out.add("response.content_part.done", **where, part=_text_part(text))
    out.add("response.output_item.done", output_index=index, item=message_item(reply, reply.status, text))


def _obfuscation(reply: ResponsesReply, delta: str) -> JSONDict:
    """The random padding OpenAI adds to deltas (``stream_options.include_obfuscation``, on by default)."""
    if not reply.obfuscate:
        return {}
    return {"obfuscation": os.urandom(8).hex()[: max(1, 16 - len(delta) % 16)]}


def error_frame(sequence_number: int, status: int, error_body: JSONDict | bytes | str, flavor: Flavor) -> bytes:
    """An in-stream ``error`` event for an HTTP error: the body's message, and its code when OpenAI's (Azure's
    numeric or PascalCase codes give way to the status's OpenAI code)."""
    fields: JSONDict = {}
    if isinstance(error_body, dict) and isinstance(error_body.get("error"), dict):
        fields = error_body["error"]
    code = fields.get("code")
    if flavor == "azure" or not isinstance(code, str):
        code = "rate_limit_exceeded" if status == 429 else "server_error"
    payload = {
        "type": "error",
        "sequence_number": sequence_number,
        "code": code,
        "message": str(fields.get("message") or "The server had an error while processing your request."),
        "param": fields.get("param"),
    }
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"


def malformed_frame(response_id: str) -> bytes:
    """A stream frame whose data is not valid JSON (truncated object)."""
    return b'event: response.in_progress\ndata: {"type": "response.in_progress", "response": {"id": "' + (
        response_id.encode() + b'", "output": [\n\n'
    )
