"""Decide what a chat reply contains (text, tool calls, finish reason, usage) from request + behaviour."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from wardgate.testing.script import Behavior
from wardgate.testing.wire import (
    DEFAULT_CHUNKS,
    ChatReply,
    Flavor,
    ToolCallOut,
    count_words,
    default_content,
    estimate_prompt_tokens,
    example_arguments,
    now,
    random_id,
    split_content,
    truncate_words,
    usage_block,
)


def build_reply(flavor: Flavor, body: dict[str, Any], served_model: str, behavior: Behavior) -> ChatReply:
    """The reply to a chat request. ``max_tokens``/``max_completion_tokens`` truncate the text (in words,
    finish_reason "length"); completion tokens = words of text + ≈ chars/4 of tool-call arguments."""
    chunks = behavior.chunks or DEFAULT_CHUNKS
    calls = resolve_tool_calls(body, behavior)
    if behavior.content is not None:
        content: str | None = behavior.content
    elif calls:
        content = None
    else:
        content = json_content(body) or default_content(chunks)
    finish = "tool_calls" if calls else "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if content and isinstance(limit, int) and not isinstance(limit, bool) and count_words(content) > limit:
        content = truncate_words(content, limit)
        finish = "length"
    if behavior.finish_reason is not None:
        finish = behavior.finish_reason
    completion_tokens = count_words(content or "") + sum(math.ceil(len(c.arguments) / 4) for c in calls)
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return ChatReply(
        flavor=flavor,
        completion_id=random_id("chatcmpl-"),
        created=now(),
        model=served_model,
        content=content,
        pieces=split_content(content, chunks) if content else (),
        tool_calls=calls,
        finish_reason=finish,
        usage=usage_block(estimate_prompt_tokens(body.get("messages")), completion_tokens, behavior.usage),
        include_usage=include_usage,
    )


def json_content(body: dict[str, Any]) -> str | None:
    """What OpenAI answers under ``response_format``: a JSON object (fitting the schema for json_schema)."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return json.dumps({"answer": default_content(8)})
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return json.dumps(example_arguments(schema))
    return None


def resolve_tool_calls(body: dict[str, Any], behavior: Behavior) -> tuple[ToolCallOut, ...]:
    """Scripted tool calls, else one call when ``tool_choice`` is "required" or names a function."""
    if behavior.tool_calls is not None:
        return tuple(
            ToolCallOut(
                id=c.id or random_id("call_", 24),
                name=c.name,
                arguments=c.arguments if isinstance(c.arguments, str) else orjson.dumps(c.arguments).decode(),
            )
            for c in behavior.tool_calls
        )
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools:
        return ()
    functions = [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice")
    wanted: str | None = None
    if choice == "required" and functions:
        wanted = functions[0].get("name")
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted = choice["function"].get("name")
    if not isinstance(wanted, str):
        return ()
    schema = next((f.get("parameters") for f in functions if f.get("name") == wanted), None)
    arguments = orjson.dumps(example_arguments(schema)).decode()
    return (ToolCallOut(id=random_id("call_", 24), name=wanted, arguments=arguments),)
