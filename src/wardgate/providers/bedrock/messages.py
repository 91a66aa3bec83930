"""OpenAI chat messages → Converse ``system`` blocks and ``messages`` (pure; never mutates its input).

Follows https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Message.html and
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ContentBlock.html:

- ``system`` and ``developer`` messages become ``system`` text blocks, in order;
- ``tool`` messages become ``toolResult`` blocks in a user message, placed before the user's own blocks;
- consecutive messages of the same role are merged (Converse requires user/assistant alternation);
- an assistant's ``thinking_blocks`` (Anthropic shape) go first as ``reasoningContent`` so Claude's signed
  thinking round-trips through tool use; a block signed by Gemini (``gemini:`` signatures, see
  ``wardgate.providers.gemini.response``) is left out: Bedrock could not verify it and would refuse the request;
- Anthropic-style ``cache_control`` on a part (or a whole message) adds a ``cachePoint`` block after it, its
  ``ttl`` kept;
- images and files must be ``data:`` URLs (the client inlines http(s) images first: ``needs_image_bytes``); blobs
  travel base64-encoded in the JSON wire format.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson

from wardgate.core.errors import InvalidRequestError
from wardgate.providers.translate import TranslationContext

Block = dict[str, Any]

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(?:;[^,;]*)*),(?P<data>.*)", re.DOTALL)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_DOC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9\s\-()\[\]]+")
_FOREIGN_SIGNATURE = "gemini:"  # how the Gemini adapter marks its thought signatures


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, param="messages")


def cache_point(marker: Any) -> Block | None:
    """A ``cachePoint`` block for an Anthropic-style ``cache_control`` marker, None when there is none."""
    if not isinstance(marker, Mapping) or marker.get("type") != "ephemeral":
        return None
    point: dict[str, Any] = {"type": "default"}
    ttl = marker.get("ttl")
    if ttl in ("5m", "1h"):
        point["ttl"] = ttl
    return {"cachePoint": point}


def parse_data_url(url: str) -> tuple[str, str]:
    """``(media type, base64 data)`` of a ``data:`` URL; anything else is a 400 (the client inlines URLs)."""
    match = _DATA_URL.fullmatch(url) if url.startswith("data:") else None
    if match is None:
        raise _invalid("Bedrock needs inline data: only base64 `data:` URLs are accepted for images and files")
    mime = (match["mime"] or "text/plain").lower()
    data = match["data"]
    if ";base64" in match["params"].lower():
        data = "".join(data.split())
        if not data or len(data) % 4 or _BASE64.fullmatch(data) is None:
            raise _invalid("the data URL is not valid base64")
        return mime, data
    return mime, base64.b64encode(unquote_to_bytes(data)).decode("ascii")


def system_blocks(message: Mapping[str, Any]) -> list[Block]:
    """Text (and cache points) of a system/developer message."""
    content = message.get("content")
    blocks: list[Block] = []
    if isinstance(content, str):
        if content:
            blocks.append({"text": content})
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise _invalid("system messages may only contain text parts")
            if part.get("text"):
                blocks.append({"text": part["text"]})
            point = cache_point(part.get("cache_control"))
            if point is not None and blocks:
                blocks.append(point)
    _message_cache_point(message, blocks)
    return blocks


def _message_cache_point(message: Mapping[str, Any], blocks: list[Block]) -> None:
    point = cache_point(message.get("cache_control"))
    if point is not None and blocks and "cachePoint" not in blocks[-1]:
        blocks.append(point)


def user_blocks(message: Mapping[str, Any], ctx: TranslationContext) -> list[Block]:
    content = message.get("content")
    blocks: list[Block] = []
    if isinstance(content, str):
        if content:
            blocks.append({"text": content})
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping):
                raise _invalid("message content parts must be objects")
            converted = _user_part(part, ctx)
            if converted is not None:
                blocks.append(converted)
            point = cache_point(part.get("cache_control"))
            if point is not None and blocks:
                blocks.append(point)
    elif content is not None:
        raise _invalid("message content must be a string or a list of parts")
    _message_cache_point(message, blocks)
    return blocks


def _user_part(part: Mapping[str, Any], ctx: TranslationContext) -> Block | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise _invalid("a text part needs a `text` string")
        return {"text": text} if text else None
    if kind == "image_url":
        return _image_block(part.get("image_url"), ctx)
    if kind == "file":
        return _document_block(part.get("file"), ctx)
    ctx.unsupported(f"content part type {kind!r}")
    return None


def _image_block(image: Any, ctx: TranslationContext) -> Block:
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str):
        raise _invalid("an image_url part needs a `url`")
    if isinstance(image, Mapping) and image.get("detail") not in (None, "auto"):
        ctx.unsupported("image_url.detail", "Bedrock has no image detail setting")
    mime, data = parse_data_url(url)
    fmt = IMAGE_FORMATS.get(mime)
    if fmt is None:
        raise _invalid(f"Bedrock accepts png, jpeg, gif and webp images, not {mime}")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _document_block(file: Any, ctx: TranslationContext) -> Block | None:
    if not isinstance(file, Mapping) or not isinstance(file.get("file_data"), str):
        ctx.unsupported("file.file_id", "Bedrock needs the file's data inline (`file_data`)")
        return None
    mime, data = parse_data_url(file["file_data"])
    fmt = DOCUMENT_FORMATS.get(mime)
    if fmt is None:
        raise _invalid(f"Bedrock does not accept {mime} documents")
    stem = str(file.get("filename") or "document").rsplit(".", 1)[0]
    name = " ".join(_DOC_NAME_UNSAFE.sub(" ", stem).split())[:200] or "document"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": data}}}


def assistant_blocks(message: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [_reasoning_block(b) for b in message.get("thinking_blocks") or () if not _foreign(b)]
    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append({"text": content})
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping):
                raise _invalid("message content parts must be objects")
            if part.get("type") == "text" and part.get("text"):
                blocks.append({"text": part["text"]})
            elif part.get("type") not in ("text", "refusal"):
                raise _invalid("assistant messages may only contain text parts")
            point = cache_point(part.get("cache_control"))
            if point is not None and blocks:
                blocks.append(point)
    for call in message.get("tool_calls") or ():
        blocks.append(_tool_use_block(call))
    _message_cache_point(message, blocks)
    return blocks


def _foreign(block: Any) -> bool:
    signature = block.get("signature") if isinstance(block, Mapping) else None
    return isinstance(signature, str) and signature.startswith(_FOREIGN_SIGNATURE)


def _reasoning_block(block: Any) -> Block:
    """Anthropic ``thinking``/``redacted_thinking`` → Converse ``reasoningContent``."""
    if isinstance(block, Mapping) and block.get("type") == "thinking":
        text: dict[str, Any] = {"text": str(block.get("thinking") or "")}
        if block.get("signature"):
            text["signature"] = block["signature"]
        return {"reasoningContent": {"reasoningText": text}}
    if isinstance(block, Mapping) and block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
        return {"reasoningContent": {"redactedContent": block["data"]}}
    raise _invalid("thinking_blocks entries must be Anthropic thinking or redacted_thinking blocks")


def _tool_use_block(call: Any) -> Block:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(call.get("id"), str) or not function.get("name"):
        raise _invalid("each tool call needs an `id` and a `function.name`")
    raw = function.get("arguments") or "{}"
    try:
        arguments = orjson.loads(raw) if isinstance(raw, str) else raw
    except orjson.JSONDecodeError:
        raise _invalid(f"the arguments of tool call {call['id']!r} are not valid JSON") from None
    if not isinstance(arguments, dict):
        raise _invalid(f"the arguments of tool call {call['id']!r} must be a JSON object")
    return {"toolUse": {"toolUseId": call["id"], "name": function["name"], "input": arguments}}


def tool_result_block(message: Mapping[str, Any]) -> Block:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _invalid("tool messages need a `tool_call_id`")
    content = message.get("content")
    parts: list[Block] = []
    if isinstance(content, str):
        parts.append({"text": content})
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise _invalid("tool message content may only contain text parts")
            if part.get("text"):
                parts.append({"text": part["text"]})
    # An empty result stays an empty list: Bedrock rejects blank text blocks, and inventing text would change it.
    parts = [p for p in parts if p["text"]]
    return {"toolResult": {"toolUseId": call_id, "content": parts}}


def convert_messages(messages: list[Any], ctx: TranslationContext) -> tuple[list[Block], list[dict[str, Any]]]:
    """``(system blocks, Converse messages)`` with same-role turns merged."""
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, Mapping):
            raise _invalid("each message must be an object")
        role = message.get("role")
        if message.get("name"):
            ctx.unsupported("messages[].name", "Bedrock messages carry no participant name")
        if role in ("system", "developer"):
            system.extend(system_blocks(message))
            continue
        if role == "user":
            bedrock_role, blocks = "user", user_blocks(message, ctx)
        elif role == "assistant":
            bedrock_role, blocks = "assistant", assistant_blocks(message)
        elif role == "tool":
            bedrock_role, blocks = "user", [tool_result_block(message)]
        else:
            raise _invalid(f"unsupported message role {role!r}")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == bedrock_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": bedrock_role, "content": blocks})
    return system, turns


def has_tool_blocks(turns: list[dict[str, Any]]) -> bool:
    return any("toolUse" in block or "toolResult" in block for turn in turns for block in turn["content"])
