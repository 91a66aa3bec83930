"""Strict validation of ``POST /v1/messages`` bodies, with Anthropic's error wording where it is known.

Checks what the real API rejects (https://docs.anthropic.com/en/api/messages): unknown top-level fields, a
missing ``model`` / ``max_tokens`` / ``messages``, sampling ranges, role order, empty text blocks, block types per
role, ``tool_use`` / ``tool_result`` pairing (every ``tool_use`` answered in the very next user turn, every
``tool_result`` answering the previous turn, results first), image sources (media type and base64 payload that
really is such an image), tool definitions and ``tool_choice``, prompt-cache markers and extended-thinking rules.
``strict_alternation`` additionally demands strictly alternating roles starting with ``user`` (the real API now
merges consecutive same-role turns; the fake is stricter by default to catch translators that do not). API
version 2026-10-21 (https://docs.anthropic.com/en/api/migration-2026-10-21) also rejects ``temperature``,
``top_p``, ``top_k`` and citations in user messages.
"""

from __future__ import annotations

import re
from typing import Any

from wardgate.testing.fake_anthropic.blocks import InvalidRequest, check_block, check_cache_control, fail

__all__ = ["NEW_VERSION", "InvalidRequest", "validate_request"]

_TOP_KEYS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "metadata",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "service_tier",
        "output_config",
        "cache_control",
        "container",
        "inference_geo",
        "speed",
    }
)
_TOOL_KEYS = frozenset(
    {
        "type",
        "name",
        "description",
        "input_schema",
        "cache_control",
        "strict",
        "input_examples",
        "eager_input_streaming",
    }
)
NEW_VERSION = "2026-10-21"
_SERVER_TOOL = re.compile(r"^[a-z_]+_\d{8}$")
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_THINKING_DOC = (
    " Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)


def validate_request(body: dict[str, Any], *, strict_alternation: bool = True, version: str = "2023-06-01") -> None:
    """Raise :class:`InvalidRequest` for the first problem found (rules of the ``anthropic-version`` given)."""
    for key in body:
        if key not in _TOP_KEYS:
            raise fail(f"{key}: Extra inputs are not permitted")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise fail(f"{key}: Field required")
    if not isinstance(body["model"], str) or not body["model"]:
        raise fail("model: Input should be a valid string")
    _integer(body, "max_tokens", 1)
    if version >= NEW_VERSION:
        for key in ("temperature", "top_p", "top_k"):
            if key in body:
                raise fail(f"`{key}` is not supported in API version {version}; sampling parameters were removed.")
    _number(body, "temperature", 1.0)
    _number(body, "top_p", 1.0)
    _integer(body, "top_k", 0)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise fail("stream: Input should be a valid boolean")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)):
        raise fail("stop_sequences: Input should be a valid list of strings")
    _metadata(body.get("metadata"))
    _system(body.get("system"))
    names = _tools(body.get("tools"))
    _tool_choice(body.get("tool_choice"), names)
    _thinking(body)
    _messages(body["messages"], strict_alternation, version >= NEW_VERSION)


def _integer(body: dict[str, Any], key: str, minimum: int) -> None:
    value = body.get(key)
    if value is None and key != "max_tokens":
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(f"{key}: Input should be a valid integer")
    if value < minimum:
        raise fail(f"{key}: Input should be greater than or equal to {minimum}")


def _number(body: dict[str, Any], key: str, maximum: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise fail(f"{key}: Input should be a valid number")
    if not 0 <= value <= maximum:
        raise fail(f"{key}: Input should be less than or equal to {maximum:g}")


def _metadata(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise fail("metadata: Input should be a valid dictionary")
    for key, item in value.items():
        if key != "user_id":
            raise fail(f"metadata.{key}: Extra inputs are not permitted")
        if item is not None and (not isinstance(item, str) or len(item) > 256):
            raise fail("metadata.user_id: String should have at most 256 characters")


def _system(value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list):
        raise fail("system: Input should be a valid string or list")
    for k, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise fail(f"system.{k}.type: Input should be 'text'")
        check_block(block, f"system.{k}", "system")


# ------------------------------------------------------------------------------------------------ tools


def _tools(tools: Any) -> set[str]:
    if tools is None:
        return set()
    if not isinstance(tools, list):
        raise fail("tools: Input should be a valid list")
    names: set[str] = set()
    for j, tool in enumerate(tools):
        where = f"tools.{j}"
        if not isinstance(tool, dict):
            raise fail(f"{where}: Input should be a valid dictionary")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            if not isinstance(kind, str) or not _SERVER_TOOL.match(kind):
                raise fail(f"{where}: Input tag {kind!r} found using 'type' does not match any of the expected tags")
            names.add(str(tool.get("name")))  # versioned server tools (web_search_20250305, ...) are not modelled
            continue
        for key in tool:
            if key not in _TOOL_KEYS:
                raise fail(f"{where}.custom.{key}: Extra inputs are not permitted")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise fail(f"{where}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise fail(f"{where}.custom.input_schema.type: Input should be 'object'")
        if "cache_control" in tool:
            check_cache_control(tool["cache_control"], f"{where}.custom")
        if name in names:
            raise fail("tools: Tool names must be unique.")
        names.add(name)
    return names


def _tool_choice(choice: Any, names: set[str]) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    allowed = {"auto": {"disable_parallel_tool_use"}, "any": {"disable_parallel_tool_use"}, "none": set()}
    allowed["tool"] = {"name", "disable_parallel_tool_use"}
    if not isinstance(choice, dict) or kind not in allowed:
        raise fail(
            "tool_choice: Input tag found using 'type' does not match any of the expected tags: 'auto', "
            "'any', 'tool', 'none'"
        )
    for key in choice:
        if key != "type" and key not in allowed[kind]:
            raise fail(f"tool_choice.{kind}.{key}: Extra inputs are not permitted")
    if "disable_parallel_tool_use" in choice and not isinstance(choice["disable_parallel_tool_use"], bool):
        raise fail(f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean")
    if kind in ("any", "tool") and not names:
        raise fail("tool_choice: tool_choice may only be specified while providing tools.")
    if kind == "tool" and choice.get("name") not in names:
        raise fail(f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in provided tools")


def _thinking(body: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind not in ("enabled", "disabled", "adaptive"):
        raise fail("thinking: Input tag found using 'type' does not match any of the expected tags")
    if kind == "disabled":
        return
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1024:
            raise fail("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if body["max_tokens"] <= budget:
            raise fail("`max_tokens` must be greater than `thinking.budget_tokens`." + _THINKING_DOC + "#max-tokens")
    temperature, top_p = body.get("temperature"), body.get("top_p")
    if temperature is not None and temperature != 1:
        raise fail("`temperature` may only be set to 1 when thinking is enabled." + _THINKING_DOC)
    if top_p is not None and top_p < 0.95:
        raise fail("`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled." + _THINKING_DOC)
    if body.get("top_k") is not None:
        raise fail("`top_k` must be unset when thinking is enabled." + _THINKING_DOC)
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("any", "tool"):
        raise fail("Thinking may not be enabled when tool_choice forces tool use.")


# --------------------------------------------------------------------------------------------- messages


def _messages(messages: Any, strict_alternation: bool, new_version: bool) -> None:
    if not isinstance(messages, list):
        raise fail("messages: Input should be a valid list")
    if not messages:
        raise fail("messages: at least one message is required")
    turns: list[tuple[int, str, list[Any]]] = []  # (first message index, role, blocks)
    for i, msg in enumerate(messages):
        role, blocks = _message(msg, i, final=i == len(messages) - 1)
        if new_version and role == "user":
            _no_user_citations(blocks, i)
        if strict_alternation and i == 0 and role != "user":
            raise fail('messages: first message must use the "user" role')
        if turns and turns[-1][1] == role:
            if strict_alternation:
                raise fail(
                    f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" '
                    "roles in a row"
                )
            turns[-1][2].extend(blocks)
        else:
            turns.append((i, role, list(blocks)))
    _tool_pairing(turns)


def _message(msg: Any, i: int, final: bool) -> tuple[str, list[Any]]:
    where = f"messages.{i}"
    if not isinstance(msg, dict):
        raise fail(f"{where}: Input should be a valid dictionary")
    for key in msg:
        if key not in ("role", "content"):
            raise fail(f"{where}.{key}: Extra inputs are not permitted")
    role = msg.get("role")
    if role not in ("user", "assistant"):
        raise fail(f"{where}.role: Input should be 'user' or 'assistant'")
    content = msg.get("content")
    empty_ok = final and role == "assistant"
    if isinstance(content, str):
        if not content and not empty_ok:
            raise fail(
                f"{where}: all messages must have non-empty content except for the optional final assistant message"
            )
        return role, []
    if not isinstance(content, list):
        raise fail(f"{where}.content: Input should be a valid string or list")
    if not content and not empty_ok:
        raise fail(f"{where}: all messages must have non-empty content except for the optional final assistant message")
    for k, block in enumerate(content):
        check_block(block, f"{where}.content.{k}", role)
    return role, content


def _no_user_citations(blocks: list[Any], i: int) -> None:
    """API version 2026-10-21 rejects citations on text blocks of user messages."""
    for k, block in enumerate(blocks):
        if block.get("type") == "text" and block.get("citations"):
            raise fail(f"messages.{i}.content.{k}.text.citations: citations are not allowed in user messages")


def _tool_pairing(turns: list[tuple[int, str, list[Any]]]) -> None:
    pending: list[str] = []
    pending_at = 0
    for first, role, blocks in turns:
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        missing = [tool_id for tool_id in pending if tool_id not in results]
        if missing:
            raise fail(
                f"messages.{pending_at}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the "
                "next message."
            )
        for k, block in enumerate(blocks):
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in pending:
                raise fail(
                    f"messages.{first}.content.{k}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` "
                    "block in the previous message."
                )
        kinds = [b.get("type") for b in blocks]
        if "tool_result" in kinds and any(k != "tool_result" for k in kinds[: len(results)]):
            raise fail(f"messages.{first}: `tool_result` blocks must come before any other content in the message.")
        pending = [b.get("id") for b in blocks if b.get("type") == "tool_use"] if role == "assistant" else []
        pending_at = first
    if pending:
        raise fail(
            f"messages.{pending_at}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(pending)}. Each `tool_use` block must have a corresponding `tool_result` block in the next "
            "message."
        )
