"""Checks of single content blocks for the fake's request validation (see ``validate``): block types per
role, unknown keys, empty text, prompt-cache markers, image sources (media type and base64 data that really is
such an image), PDF / text document sources and tool results. Wording follows Anthropic's errors where known.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

_BLOCK_KEYS = {
    "text": {"type", "text", "cache_control", "citations"},
    "image": {"type", "source", "cache_control"},
    "document": {"type", "source", "cache_control", "title", "context", "citations"},
    "tool_use": {"type", "id", "name", "input", "cache_control"},
    "tool_result": {"type", "tool_use_id", "content", "is_error", "cache_control"},
    "thinking": {"type", "thinking", "signature"},
    "redacted_thinking": {"type", "data"},
}
_ROLE_BLOCKS = {
    "user": {"text", "image", "document", "tool_result"},
    "assistant": {"text", "tool_use", "thinking", "redacted_thinking"},
}
_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


class InvalidRequest(Exception):
    """The request breaks one of Anthropic's rules; ``message`` is what the API would say."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def fail(message: str) -> InvalidRequest:
    return InvalidRequest(message)


def check_block(block: Any, where: str, role: str) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in _BLOCK_KEYS:
        raise fail(f"{where}.type: Input tag {kind!r} found using 'type' does not match any of the expected tags")
    if role != "system" and kind not in _ROLE_BLOCKS[role]:
        raise fail(f"{where}: `{kind}` blocks are not allowed in {role} messages")
    for key in block:
        if key not in _BLOCK_KEYS[kind]:
            raise fail(f"{where}.{kind}.{key}: Extra inputs are not permitted")
    if "cache_control" in block:
        check_cache_control(block["cache_control"], f"{where}.{kind}")
    if kind == "text" and (not isinstance(block.get("text"), str) or not block["text"]):
        raise fail(f"{where}: text content blocks must be non-empty")
    elif kind == "image":
        _image_source(block.get("source"), f"{where}.image.source")
    elif kind == "document":
        _document_source(block.get("source"), f"{where}.document.source")
    elif kind == "tool_use":
        if not isinstance(block.get("id"), str) or not _TOOL_ID.match(block["id"]):
            raise fail(f"{where}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block.get("name"), str) or not isinstance(block.get("input"), dict):
            raise fail(f"{where}.tool_use: a tool_use block needs a name and an input object")
    elif kind == "tool_result":
        _tool_result(block, where)
    elif kind == "thinking" and not (
        isinstance(block.get("thinking"), str) and isinstance(block.get("signature"), str)
    ):
        raise fail(f"{where}.thinking.signature: Field required")
    elif kind == "redacted_thinking" and not isinstance(block.get("data"), str):
        raise fail(f"{where}.redacted_thinking.data: Field required")


def _tool_result(block: dict[str, Any], where: str) -> None:
    if not isinstance(block.get("tool_use_id"), str):
        raise fail(f"{where}.tool_result.tool_use_id: Field required")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise fail(f"{where}.tool_result.content: Input should be a valid string or list")
    for k, item in enumerate(content):
        if not isinstance(item, dict) or item.get("type") not in ("text", "image", "document"):
            raise fail(f"{where}.tool_result.content.{k}: tool results may contain text, image and document blocks")
        check_block(item, f"{where}.tool_result.content.{k}", "user")


def check_cache_control(value: Any, where: str) -> None:
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        raise fail(f"{where}.cache_control.type: Input should be 'ephemeral'")
    for key in value:
        if key not in ("type", "ttl"):
            raise fail(f"{where}.cache_control.ephemeral.{key}: Extra inputs are not permitted")
    if "ttl" in value and value["ttl"] not in ("5m", "1h"):
        raise fail(f"{where}.cache_control.ephemeral.ttl: Input should be '5m' or '1h'")


def _image_source(source: Any, where: str) -> None:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        media_type = source.get("media_type")
        if media_type not in _IMAGE_MAGIC:
            raise fail(
                f"{where}.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
            )
        data = _decode(source.get("data"), f"{where}.base64.data")
        if not data.startswith(_IMAGE_MAGIC[media_type]) or (media_type == "image/webp" and data[8:12] != b"WEBP"):
            raise fail(f"{where}.base64.data: Image does not match the provided media type {media_type}")
    elif kind == "url":
        if not isinstance(source.get("url"), str) or not source["url"].startswith(("https://", "http://")):
            raise fail(f"{where}.url.url: Input should be a valid URL")
    elif kind != "file":
        raise fail(f"{where}: Input tag {kind!r} found using 'type' does not match any of the expected tags")


def _document_source(source: Any, where: str) -> None:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        if source.get("media_type") != "application/pdf":
            raise fail(f"{where}.base64.media_type: Input should be 'application/pdf'")
        if not _decode(source.get("data"), f"{where}.base64.data").startswith(b"%PDF"):
            raise fail(f"{where}.base64.data: The PDF specified was not valid.")
    elif kind == "text":
        if source.get("media_type") != "text/plain" or not isinstance(source.get("data"), str):
            raise fail(f"{where}.text: a text source needs media_type text/plain and string data")
    elif kind not in ("url", "content", "file"):
        raise fail(f"{where}: Input tag {kind!r} found using 'type' does not match any of the expected tags")


def _decode(data: Any, where: str) -> bytes:
    if not isinstance(data, str) or not data:
        raise fail(f"{where}: Field required")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise fail(f"{where}: Invalid base64 data") from None
