"""Anthropic ``system`` + ``messages`` → OpenAI chat ``messages`` (the inverse of
``wardgate.providers.anthropic.messages``, so a round trip through an Anthropic deployment is lossless).

Per https://docs.anthropic.com/en/api/messages:

* ``system`` (a string, or text blocks) → one ``system`` message; text blocks stay content parts with their
  ``cache_control`` (and its ``ttl``).
* ``text`` → text parts (a plain string stays a string), ``image`` → ``image_url`` parts (base64 → a data URL,
  ``url`` → the URL). ``document``, ``search_result``, Files-API sources and server-tool blocks have no portable
  OpenAI form: they raise ``InvalidRequestError`` naming the block (Anthropic deployments take them through
  passthrough, which never reaches this module).
* ``tool_use`` (assistant) → ``tool_calls`` (``input`` JSON-encoded as ``arguments``); a ``cache_control`` on one
  becomes the assistant message's marker, which the Anthropic provider puts back on the message's last block.
* ``tool_result`` (user) → one ``tool`` message each, in order, before the turn's other content (Anthropic
  requires tool results first; OpenAI requires tool messages right after the assistant turn). ``is_error``
  has no OpenAI field: the content is prefixed with ``TOOL_ERROR_PREFIX`` so the model still sees the failure.
  Images inside a tool result: OpenAI tool messages accept text only, so the images move to a user message
  right after the turn's tool messages (introduced by ``Images returned by tool call <id>:``) and the tool
  message notes ``TOOL_IMAGE_NOTE``. Every provider can read that; no image is lost.
* ``thinking`` → ``reasoning_content`` (all thinking text) and, when signed, ``thinking_blocks`` (exact
  ``{type, thinking, signature}``); ``redacted_thinking`` → ``thinking_blocks``. A thinking block with an empty
  signature is reasoning the gateway produced from a non-Anthropic model (see ``response``): it travels as
  ``reasoning_content`` only, since no provider could verify it as a signed block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.api.anthropic.translate.common import (
    JSONDict,
    cache_control,
    check_keys,
    image_part,
    text_part,
    with_cache,
)
from wardgate.core.errors import InvalidRequestError

TOOL_ERROR_PREFIX = "Error: "
TOOL_IMAGE_NOTE = "[The tool returned image content; it follows in the next user message.]"

_UNPORTABLE = {
    "document": "document blocks (PDF, text and content sources)",
    "search_result": "search_result blocks",
    "container_upload": "container_upload blocks",
}
_PORTABLE = frozenset({"text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"})


def convert_system(system: Any) -> list[JSONDict]:
    """``[]`` or ``[system message]`` for Anthropic's top-level ``system``."""
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise InvalidRequestError("`system` must be a string or an array of text blocks", param="system")
    parts = []
    for j, block in enumerate(system):
        where = f"system[{j}]"
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise InvalidRequestError("system blocks must be text blocks", param=where)
        parts.append(text_part(block, where))
    return [{"role": "system", "content": parts}] if parts else []


def convert_messages(messages: Any) -> list[JSONDict]:
    """The OpenAI messages for Anthropic's ``messages`` (never mutated)."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("`messages` must be a non-empty array", param="messages")
    out: list[JSONDict] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise InvalidRequestError(f"{where} must be an object", param=where)
        check_keys(message, ("role", "content"), where, "messages")
        role, content = message.get("role"), message.get("content")
        if not isinstance(content, str | list):
            raise InvalidRequestError("content must be a string or an array of blocks", param=f"{where}.content")
        if role == "user":
            out.extend(_user_messages(content, where))
        elif role == "assistant":
            out.append(_assistant_message(content, where))
        else:
            raise InvalidRequestError("role must be 'user' or 'assistant'", param=f"{where}.role")
    return out


def _blocks(content: list[Any], where: str) -> list[Mapping[str, Any]]:
    if not content:
        raise InvalidRequestError("content must not be an empty array", param=f"{where}.content")
    for j, block in enumerate(content):
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise InvalidRequestError("each content block needs a type", param=f"{where}.content[{j}]")
    return content


def _unsupported(kind: str, where: str, container: str) -> InvalidRequestError:
    if kind in _PORTABLE:
        return InvalidRequestError(f"{kind} blocks are not allowed in {container} content", param=where)
    what = _UNPORTABLE.get(kind, f"{kind!r} blocks")
    return InvalidRequestError(f"{what} are only available when the model is served by Anthropic", param=where)


# ------------------------------------------------------------------------------------------------ user


def _user_messages(content: str | list[Any], where: str) -> list[JSONDict]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[JSONDict] = []
    images: list[JSONDict] = []
    parts: list[JSONDict] = []
    for j, block in enumerate(_blocks(content, where)):
        at, kind = f"{where}.content[{j}]", block["type"]
        if kind == "tool_result":
            message, found = _tool_result(block, at)
            tools.append(message)
            if found:
                intro = f"Images returned by tool call {message['tool_call_id']}:"
                images.extend([{"type": "text", "text": intro}, *found])
        elif kind == "text":
            parts.append(text_part(block, at))
        elif kind == "image":
            parts.append(image_part(block, at))
        else:
            raise _unsupported(kind, at, "user")
    if images or parts:
        tools.append({"role": "user", "content": images + parts})
    return tools


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[JSONDict, list[JSONDict]]:
    """The ``tool`` message for a ``tool_result`` block, and the images it carried."""
    check_keys(block, ("type", "tool_use_id", "content", "is_error", "cache_control"), where, "tool_result blocks")
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError("a tool_result needs a tool_use_id", param=f"{where}.tool_use_id")
    raw, images = block.get("content"), []
    content: str | list[JSONDict]
    if raw is None or isinstance(raw, str):
        content = raw or ""
    elif isinstance(raw, list):
        content = []
        for j, item in enumerate(raw):
            at, kind = f"{where}.content[{j}]", item.get("type") if isinstance(item, Mapping) else None
            if kind == "text":
                content.append(text_part(item, at))
            elif kind == "image":
                images.append(image_part(item, at))
            else:
                raise _unsupported(str(kind), at, "tool_result")
        content = content or ""
    else:
        raise InvalidRequestError("tool_result content must be a string or an array", param=f"{where}.content")
    if block.get("is_error") is True:
        content = _prefixed(content, TOOL_ERROR_PREFIX)
    if images:
        content = _noted(content, TOOL_IMAGE_NOTE)
    message: JSONDict = {"role": "tool", "tool_call_id": call_id, "content": content}
    return with_cache(message, block, where), images


def _prefixed(content: str | list[JSONDict], prefix: str) -> str | list[JSONDict]:
    if isinstance(content, str):
        return prefix + content if content else prefix.rstrip(": ")
    if content and content[0]["type"] == "text":
        return [{**content[0], "text": prefix + content[0]["text"]}, *content[1:]]
    return [{"type": "text", "text": prefix.rstrip(": ")}, *content]


def _noted(content: str | list[JSONDict], note: str) -> str | list[JSONDict]:
    if isinstance(content, str):
        return f"{content}\n{note}" if content else note
    return [*content, {"type": "text", "text": note}]


# ------------------------------------------------------------------------------------------- assistant


def _assistant_message(content: str | list[Any], where: str) -> JSONDict:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    parts: list[JSONDict] = []
    calls: list[JSONDict] = []
    reasoning: list[str] = []
    signed: list[JSONDict] = []
    marker: JSONDict | None = None
    for j, block in enumerate(_blocks(content, where)):
        at, kind = f"{where}.content[{j}]", block["type"]
        if kind == "text":
            parts.append(text_part(block, at))
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
            if block.get("cache_control") is not None:
                marker = cache_control(block["cache_control"], f"{at}.cache_control")
        elif kind == "thinking":
            text, signature = _thinking(block, at)
            reasoning.append(text)
            if signature:
                signed.append({"type": "thinking", "thinking": text, "signature": signature})
        elif kind == "redacted_thinking":
            signed.append({"type": "redacted_thinking", "data": _redacted(block, at)})
        else:
            raise _unsupported(kind, at, "assistant")
    message: JSONDict = {"role": "assistant", "content": _assistant_content(parts, bool(calls))}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if signed:
        message["thinking_blocks"] = signed
    if marker is not None:
        message["cache_control"] = marker
    return message


def _assistant_content(parts: list[JSONDict], has_calls: bool) -> str | list[JSONDict] | None:
    if not parts:
        return None if has_calls else ""
    if len(parts) == 1 and "cache_control" not in parts[0]:
        text: str = parts[0]["text"]
        return text
    return parts


def _tool_call(block: Mapping[str, Any], where: str) -> JSONDict:
    check_keys(block, ("type", "id", "name", "input", "cache_control", "caller"), where, "tool_use blocks")
    caller = block.get("caller")
    if caller is not None and not (isinstance(caller, Mapping) and caller.get("type") == "direct"):
        raise InvalidRequestError(
            "tool calls made by server tools are only available when the model is served by Anthropic",
            param=f"{where}.caller",
        )
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise InvalidRequestError("a tool_use block needs an id and a name", param=where)
    if not isinstance(arguments, Mapping):
        raise InvalidRequestError("tool_use input must be an object", param=f"{where}.input")
    encoded = orjson.dumps(dict(arguments)).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}


def _thinking(block: Mapping[str, Any], where: str) -> tuple[str, str]:
    check_keys(block, ("type", "thinking", "signature"), where, "thinking blocks")
    text, signature = block.get("thinking"), block.get("signature")
    if not isinstance(text, str) or not isinstance(signature, str):
        raise InvalidRequestError("a thinking block needs string thinking and signature", param=where)
    return text, signature


def _redacted(block: Mapping[str, Any], where: str) -> str:
    check_keys(block, ("type", "data"), where, "redacted_thinking blocks")
    data = block.get("data")
    if not isinstance(data, str):
        raise InvalidRequestError("a redacted_thinking block needs string data", param=f"{where}.data")
    return data
