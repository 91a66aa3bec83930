"""Detection over chat payloads: OpenAI ``messages`` (string content, content parts, tool calls' ``arguments``,
``name``), Anthropic content blocks (``text``, ``tool_use`` ``input``, ``tool_result`` ``content``) and Responses
API ``input`` items, walked generically so that every string a person or a tool wrote is seen.

Kept as they are: the structural fields (``STRUCTURAL``: role, type, ids, media types…) and opaque signatures.
Inline binary payloads (``data:`` URLs, base64 ``data`` / ``file_data``) cannot be read: they are left out of
``text_of_messages`` and replaced whole by ``[REDACTED:DATA]`` in ``redact_messages``. Numbers and booleans are
kept. Both functions build new objects and never change their input.
"""

from __future__ import annotations

from typing import Any

from wardgate.policy.detect import placeholder, redact

STRUCTURAL = frozenset(
    {
        "role",
        "type",
        "id",
        "tool_call_id",
        "tool_use_id",
        "call_id",
        "media_type",
        "mime_type",
        "detail",
        "format",
        "status",
        "cache_control",
        "signature",
        "encrypted_content",
    }
)
"""Keys whose string values are structure, not content."""
BINARY = frozenset({"data", "file_data"})
"""Keys whose string values are inline binary (base64)."""
DATA_PLACEHOLDER = placeholder("data")


def _is_binary(key: str | None, value: str) -> bool:
    return key in BINARY or (value.startswith("data:") and ";base64," in value[:100])


def text_of_messages(messages: Any) -> str:
    """Every content string of ``messages`` (a list of messages, one message, a content list or a string), in
    order, a blank line between two (no detector reads across one, so each string is judged as it is redacted)."""
    parts: list[str] = []
    _collect(messages, None, parts)
    return "\n\n".join(parts)


def _collect(value: Any, key: str | None, parts: list[str]) -> None:
    if isinstance(value, str):
        if value and key not in STRUCTURAL and not _is_binary(key, value):
            parts.append(value)
    elif isinstance(value, dict):
        for name, item in value.items():
            _collect(item, name if isinstance(name, str) else None, parts)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, key, parts)


def redact_messages(messages: Any) -> Any:
    """A copy of ``messages`` with every content string redacted (``detect.redact``) and inline binary payloads
    replaced by ``[REDACTED:DATA]``; structure, keys and non-string values are kept."""
    return _redact(messages, None)


def _redact(value: Any, key: str | None) -> Any:
    if isinstance(value, str):
        if key in STRUCTURAL or not value:
            return value
        return DATA_PLACEHOLDER if _is_binary(key, value) else redact(value)
    if isinstance(value, dict):
        return {name: _redact(item, name if isinstance(name, str) else None) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact(item, key) for item in value]
    return value
