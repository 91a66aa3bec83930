"""``estimate_tokens``: a local estimate for ``POST /v1/messages/count_tokens`` when the model is not served by
Anthropic (which counts exactly, through passthrough).

The estimate is deliberately simple and leans high, since clients use it to stay inside a context window:

* text ≈ one token per ``CHARS_PER_TOKEN`` (4) characters: the system prompt, message text, tool-call names
  and inputs (as JSON), tool results, thinking text, and each tool definition as JSON;
* ``MESSAGE_OVERHEAD`` tokens per message (role and turn markers);
* ``IMAGE_TOKENS`` (1,600) per image — Anthropic's cost of an image at its largest size before downscaling
  (about 1.15 megapixels; https://docs.anthropic.com/en/docs/build-with-claude/vision#calculate-image-costs);
* a base64 PDF counts ``PDF_PAGE_TOKENS`` per page (its ``/Type /Page`` objects, at least one);
* ``TOOL_USE_OVERHEAD`` once when ``tools`` are given (the system prompt Anthropic adds for tool use:
  https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview#pricing).

Redacted thinking is encrypted (its size says nothing of its tokens) and is not counted. Malformed input is counted
as far as it goes: validation is the request translator's job.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 1600
PDF_PAGE_TOKENS = 1600
TOOL_USE_OVERHEAD = 350
_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """An estimate of the input tokens of an Anthropic Messages (or count_tokens) request body."""
    tokens = _content(body.get("system"))
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        tokens += MESSAGE_OVERHEAD
        if isinstance(message, Mapping):
            tokens += _content(message.get("content"))
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        tokens += TOOL_USE_OVERHEAD + sum(_chars(len(orjson.dumps(tool).decode())) for tool in tools)
    return max(1, math.ceil(tokens))


def _chars(count: int) -> float:
    return count / CHARS_PER_TOKEN


def _content(content: Any) -> float:
    if isinstance(content, str):
        return _chars(len(content))
    if isinstance(content, list):
        return sum(_block(block) for block in content)
    return 0.0


def _block(block: Any) -> float:
    if not isinstance(block, Mapping):
        return 0.0
    kind = block.get("type")
    if kind == "text":
        return _chars(len(str(block.get("text") or "")))
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "thinking":
        return _chars(len(str(block.get("thinking") or "")))
    if kind == "redacted_thinking":
        return 0.0
    if kind == "tool_use":
        return _chars(len(str(block.get("name") or "")) + len(orjson.dumps(block.get("input")).decode()))
    if kind == "tool_result":
        return _content(block.get("content"))
    if kind == "document":
        return _document(block.get("source"))
    return _chars(len(orjson.dumps(block).decode()))


def _document(source: Any) -> float:
    if not isinstance(source, Mapping):
        return PDF_PAGE_TOKENS
    kind = source.get("type")
    if kind == "text":
        return _chars(len(str(source.get("data") or "")))
    if kind == "content":
        return _content(source.get("content"))
    if kind == "base64" and isinstance(source.get("data"), str):
        try:
            pages = len(_PAGE.findall(base64.b64decode(source["data"])))
        except (binascii.Error, ValueError):
            pages = 0
        return PDF_PAGE_TOKENS * max(pages, 1)
    return PDF_PAGE_TOKENS
