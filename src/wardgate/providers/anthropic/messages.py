"""OpenAI chat ``messages`` → Anthropic top-level ``system`` + alternating ``messages``.

Follows https://docs.anthropic.com/en/api/messages: system and developer messages become the top-level ``system``
(in order); consecutive same-role turns are merged; ``tool`` messages become ``tool_result`` blocks of one user
turn (tool results first, as Anthropic requires); assistant ``tool_calls`` become ``tool_use`` blocks; signed
``thinking_blocks`` go back first in their assistant turn. Prompt-caching markers (``cache_control``, with their
``ttl``: https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching) on content parts and on messages
are kept on the corresponding blocks. Image and PDF data URLs are sent as base64 sources, http(s) image URLs as
``url`` sources (Anthropic fetches them itself). Nothing here mutates its input.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequestError
from wardgate.providers.translate import TranslationContext

Block = dict[str, Any]
SystemValue = str | list[Block] | None

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_COMMON_KEYS = frozenset({"role", "content", "cache_control", "name"})
_ROLE_KEYS = {
    "system": _COMMON_KEYS,
    "developer": _COMMON_KEYS,
    "user": _COMMON_KEYS,
    "tool": _COMMON_KEYS | {"tool_call_id"},
    "assistant": _COMMON_KEYS
    | {"tool_calls", "thinking_blocks", "reasoning_content", "refusal", "annotations", "audio", "function_call"},
}
# Echoes of earlier responses that Anthropic has no place for and that carry no instruction: ignored on input.
# (``reasoning_content`` travels as signed ``thinking_blocks`` when it must round-trip.)
_ECHO_KEYS = frozenset({"reasoning_content", "refusal", "annotations"})


def convert_messages(messages: Any, ctx: TranslationContext) -> tuple[SystemValue, list[dict[str, Any]]]:
    """``(system, messages)`` for an Anthropic request."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("`messages` must be a non-empty array", param="messages")
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequestError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = msg.get("role")
        if role not in _ROLE_KEYS:
            raise InvalidRequestError(f"messages[{i}].role {role!r} is not supported", param=f"messages[{i}].role")
        _check_keys(msg, role, ctx)
        if role in ("system", "developer"):
            system.extend(_system_blocks(msg, i, ctx))
        elif role == "user":
            _append(turns, "user", _with_message_cache(msg, _parts(msg.get("content"), f"messages[{i}]", ctx), i))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(msg, i, ctx))
        else:
            _append(turns, "user", [_tool_result(msg, i, ctx)])
    return _system_value(system), [_finish_turn(turn) for turn in turns]


def _check_keys(msg: dict[str, Any], role: str, ctx: TranslationContext) -> None:
    allowed = _ROLE_KEYS[role]
    for key, value in msg.items():
        if key in _ECHO_KEYS or value is None:
            continue
        if key not in allowed or key in ("audio", "function_call") or (key == "name" and role != "tool"):
            ctx.unsupported(f"messages[].{key}")


def _append(turns: list[dict[str, Any]], role: str, blocks: list[Block]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _finish_turn(turn: dict[str, Any]) -> dict[str, Any]:
    blocks: list[Block] = turn["content"]
    if turn["role"] == "user" and any(b["type"] == "tool_result" for b in blocks):
        # Anthropic wants every tool_result before any other block of the turn.
        blocks = [b for b in blocks if b["type"] == "tool_result"] + [b for b in blocks if b["type"] != "tool_result"]
    if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return {"role": turn["role"], "content": blocks}


# ------------------------------------------------------------------------------------------------ system


def _system_blocks(msg: dict[str, Any], i: int, ctx: TranslationContext) -> list[Block]:
    blocks = _parts(msg.get("content"), f"messages[{i}]", ctx)
    if any(b["type"] != "text" for b in blocks):
        raise InvalidRequestError("system and developer messages may only contain text", param=f"messages[{i}].content")
    return _with_message_cache(msg, blocks, i)


def _system_value(blocks: list[Block]) -> SystemValue:
    if not blocks:
        return None
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


# -------------------------------------------------------------------------------------------- assistant


def _assistant_blocks(msg: dict[str, Any], i: int, ctx: TranslationContext) -> list[Block]:
    blocks = _thinking_blocks(msg.get("thinking_blocks"), i)
    for block in _parts(msg.get("content"), f"messages[{i}]", ctx):
        if block["type"] != "text":
            raise InvalidRequestError("assistant messages may only contain text", param=f"messages[{i}].content")
        if block["text"]:  # Anthropic rejects empty text blocks; "" next to tool_calls is common in OpenAI
            blocks.append(block)
    calls = msg.get("tool_calls")
    if calls is not None:
        if not isinstance(calls, list):
            raise InvalidRequestError("tool_calls must be an array", param=f"messages[{i}].tool_calls")
        blocks.extend(_tool_use(call, f"messages[{i}].tool_calls[{j}]") for j, call in enumerate(calls))
    return _with_message_cache(msg, blocks, i)


FOREIGN_SIGNATURE = "gemini:"


def _thinking_blocks(value: Any, i: int) -> list[Block]:
    if value is None:
        return []
    where = f"messages[{i}].thinking_blocks"
    if not isinstance(value, list):
        raise InvalidRequestError("thinking_blocks must be an array", param=where)
    out: list[Block] = []
    for block in value:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking" and isinstance(block.get("thinking"), str) and isinstance(block.get("signature"), str):
            if block["signature"].startswith(FOREIGN_SIGNATURE):
                continue  # signed by Gemini (see providers.gemini.response): Anthropic could not verify it
            out.append({"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]})
        elif kind == "redacted_thinking" and isinstance(block.get("data"), str):
            out.append({"type": "redacted_thinking", "data": block["data"]})
        else:
            raise InvalidRequestError(
                "each thinking block needs type thinking (with thinking and signature) or redacted_thinking "
                "(with data)",
                param=where,
            )
    return out


def _tool_use(call: Any, where: str) -> Block:
    function = call.get("function") if isinstance(call, dict) else None
    if (
        not isinstance(function, dict)
        or not isinstance(call.get("id"), str)
        or not isinstance(function.get("name"), str)
    ):
        raise InvalidRequestError("each tool call needs an id and a function name", param=where)
    arguments = function.get("arguments")
    if isinstance(arguments, dict):
        parsed: Any = arguments
    elif isinstance(arguments, str) or arguments is None:
        try:
            parsed = orjson.loads(arguments) if arguments and arguments.strip() else {}
        except orjson.JSONDecodeError:
            parsed = None
    else:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequestError(
            "tool call arguments must be a JSON object encoded as a string", param=f"{where}.function.arguments"
        )
    return {"type": "tool_use", "id": call["id"], "name": function["name"], "input": parsed}


# ------------------------------------------------------------------------------------------------- tool


def _tool_result(msg: dict[str, Any], i: int, ctx: TranslationContext) -> Block:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError("tool messages need a tool_call_id", param=f"messages[{i}].tool_call_id")
    block: Block = {"type": "tool_result", "tool_use_id": call_id}
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif content is not None:
        block["content"] = _parts(content, f"messages[{i}]", ctx)
    if msg.get("cache_control") is not None:
        block["cache_control"] = cache_marker(msg["cache_control"], f"messages[{i}].cache_control")
    return block


# ---------------------------------------------------------------------------------------- content parts


def _with_message_cache(msg: dict[str, Any], blocks: list[Block], i: int) -> list[Block]:
    """A message-level ``cache_control`` marks the message's last block (where Anthropic puts breakpoints)."""
    marker = msg.get("cache_control")
    if marker is not None and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": cache_marker(marker, f"messages[{i}].cache_control")}
    return blocks


def cache_marker(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        raise InvalidRequestError('cache_control must be {"type": "ephemeral"} with an optional ttl', param=where)
    return dict(value)


def _parts(content: Any, where: str, ctx: TranslationContext) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequestError("content must be a string or an array of parts", param=f"{where}.content")
    blocks: list[Block] = []
    for j, part in enumerate(content):
        block = _part(part, f"{where}.content[{j}]", ctx)
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: Any, where: str, ctx: TranslationContext) -> Block | None:
    kind = part.get("type") if isinstance(part, dict) else None
    block: Block | None
    if kind in ("text", "refusal"):
        text = part.get(kind)
        if not isinstance(text, str):
            raise InvalidRequestError(f"a {kind} part needs a string `{kind}`", param=where)
        block = {"type": "text", "text": text}
    elif kind == "image_url":
        block = _image(part.get("image_url"), where, ctx)
    elif kind == "file":
        block = _file(part.get("file"), where, ctx)
    elif kind == "input_audio":
        ctx.unsupported("messages[].content[].input_audio", "Anthropic models take no audio input")
        return None
    else:
        raise InvalidRequestError(f"content part type {kind!r} is not supported", param=where)
    if block is not None and part.get("cache_control") is not None:
        block["cache_control"] = cache_marker(part["cache_control"], f"{where}.cache_control")
    return block


def _image(value: Any, where: str, ctx: TranslationContext) -> Block:
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        raise InvalidRequestError("an image_url part needs a url", param=where)
    if isinstance(value, dict) and value.get("detail") not in (None, "auto"):
        ctx.unsupported("messages[].content[].image_url.detail", "Anthropic has no image detail setting")
    if url.startswith("data:"):
        media_type, data = _data_url(url, where)
        if media_type not in IMAGE_MEDIA_TYPES:
            raise InvalidRequestError(
                f"image type {media_type!r} is not supported (Anthropic accepts jpeg, png, gif and webp)", param=where
            )
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequestError("image_url must be an http(s) URL or a base64 data URL", param=where)


def _file(value: Any, where: str, ctx: TranslationContext) -> Block | None:
    if not isinstance(value, dict):
        raise InvalidRequestError("a file part needs a `file` object", param=where)
    if value.get("file_id") is not None:
        ctx.unsupported("messages[].content[].file.file_id", "Anthropic cannot read OpenAI file ids")
        return None
    data = value.get("file_data")
    if not isinstance(data, str):
        raise InvalidRequestError("a file part needs file_data", param=where)
    media_type, payload = _data_url(data, where) if data.startswith("data:") else ("application/pdf", data)
    if media_type == "application/pdf":
        block: Block = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": payload}}
    elif media_type == "text/plain":
        try:
            text = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidRequestError("file_data is not valid base64 UTF-8 text", param=where) from None
        block = {"type": "document", "source": {"type": "text", "media_type": media_type, "data": text}}
    else:
        raise InvalidRequestError(f"file type {media_type!r} is not supported (PDF and plain text are)", param=where)
    if isinstance(value.get("filename"), str):
        block["title"] = value["filename"]
    return block


def _data_url(url: str, where: str) -> tuple[str, str]:
    """``(media_type, base64 data)`` of a ``data:<type>;base64,<data>`` URL."""
    header, sep, data = url[5:].partition(",")
    media_type, *params = header.split(";")
    if not sep or "base64" not in params or not data:
        raise InvalidRequestError("data URLs must be base64 encoded (data:<type>;base64,<data>)", param=where)
    return media_type.strip().lower(), data
