"""``openai_to_anthropic``: a canonical OpenAI chat request → an Anthropic Messages request body.

Parameters follow https://docs.anthropic.com/en/api/messages. Mappings worth knowing:

* ``max_tokens`` is required by Anthropic: ``max_completion_tokens``, else ``max_tokens``, else the deployment's
  default. With extended thinking, Anthropic needs ``max_tokens > budget_tokens``; when it is not, ``max_tokens``
  is raised to ``budget_tokens + max_tokens`` (so the answer keeps the room the client asked for).
* ``reasoning_effort`` → ``thinking: {"type": "enabled", "budget_tokens": N}`` (see ``REASONING_BUDGETS``;
  ``"none"`` sends no thinking). A raw Anthropic ``thinking`` object is also accepted and wins. Anthropic allows
  thinking only with ``temperature`` 1, ``top_p`` in [0.95, 1], no ``top_k`` and no forced tool call
  (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking): other values go through
  ``ctx.unsupported``.
* ``tool_choice``: auto → auto, required → any, named function → tool, none → none;
  ``parallel_tool_calls: false`` → ``disable_parallel_tool_use: true``
  (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use).
* ``response_format`` json_object / json_schema → a forced tool named ``JSON_TOOL_NAME`` whose ``input_schema``
  is the schema (``{"type": "object"}`` for json_object): the tool input really is constrained to the schema, and
  the response translators turn that tool call back into the message ``content``. With the client's own tools:
  tool_choice auto (or absent) → the JSON tool is added and tool_choice becomes ``any`` (the model either calls
  one of the client's tools or answers through the JSON tool); none → only the JSON answer is forced; required or
  a named function → the client's tools only (that turn must be a tool call; the JSON format applies to a later
  answer). The name is reserved: a client tool with that name is rejected.
* ``stop`` → ``stop_sequences``; ``user`` / ``safety_identifier`` → ``metadata.user_id``; ``seed`` has no
  Anthropic equivalent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequestError
from wardgate.providers.anthropic.messages import Block, cache_marker, convert_messages
from wardgate.providers.translate import TranslationContext

ANTHROPIC_VERSION = "2023-06-01"
SAMPLING_REMOVED_IN = "2026-10-21"
"""From this API version on, ``temperature``, ``top_p`` and ``top_k`` are rejected
(https://docs.anthropic.com/en/api/migration-2026-10-21)."""

JSON_TOOL_NAME = "wardgate_json_response"
"""The reserved tool that carries ``response_format`` answers (a distinctive name, so that a client's own tool is
never mistaken for it on the way back)."""

REASONING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
"""``reasoning_effort`` → ``thinking.budget_tokens`` (Anthropic's minimum budget is 1024)."""

HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "safety_identifier",
        "reasoning_effort",
        "thinking",
        "seed",
    }
)
_FORCED = ("any", "tool")


def openai_to_anthropic(
    body: Mapping[str, Any], ctx: TranslationContext, *, api_version: str = ANTHROPIC_VERSION
) -> dict[str, Any]:
    """The Anthropic request body for ``body`` (never mutated), for the ``anthropic-version`` ``api_version``."""
    ctx.check_unknown(body, HANDLED)
    system, messages = convert_messages(body.get("messages"), ctx)
    out: dict[str, Any] = {"model": ctx.upstream_model, "max_tokens": _max_tokens(body, ctx)}
    if system is not None:
        out["system"] = system
    out["messages"] = messages
    tools, tool_choice = _tools_and_choice(body, ctx)
    if tools:
        out["tools"] = tools
    if tool_choice is not None:
        out["tool_choice"] = tool_choice
    forced = tool_choice is not None and tool_choice["type"] in _FORCED
    thinking = _thinking(body, ctx, forced)
    if thinking is not None:
        out["thinking"] = thinking
        budget = thinking.get("budget_tokens")
        if isinstance(budget, int) and out["max_tokens"] <= budget:
            out["max_tokens"] = budget + out["max_tokens"]
    if api_version >= SAMPLING_REMOVED_IN:
        for name in ("temperature", "top_p", "top_k"):
            if body.get(name) is not None:
                ctx.unsupported(name, f"Anthropic API version {api_version} has no sampling parameters")
    else:
        _sampling(body, out, ctx, thinking is not None and thinking.get("type") != "disabled")
    stop = _stop(body.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    user = body.get("safety_identifier") or body.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise InvalidRequestError("`user` must be a string", param="user")
        out["metadata"] = {"user_id": user}
    if body.get("seed") is not None:
        ctx.unsupported("seed", "Anthropic has no sampling seed")
    if ctx.stream:
        out["stream"] = True
    return out


def _max_tokens(body: Mapping[str, Any], ctx: TranslationContext) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidRequestError(f"`{name}` must be a positive integer", param=name)
        return value
    return ctx.default_max_tokens


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise InvalidRequestError("`stop` must be a string or an array of strings", param="stop")
    return [s for s in items if s]


def _sampling(body: Mapping[str, Any], out: dict[str, Any], ctx: TranslationContext, thinking: bool) -> None:
    temperature, top_p, top_k = body.get("temperature"), body.get("top_p"), body.get("top_k")
    if temperature is not None:
        if thinking and temperature != 1:
            ctx.unsupported("temperature", "Anthropic allows only temperature 1 with extended thinking")
        elif not thinking and isinstance(temperature, int | float) and temperature > 1:
            ctx.unsupported("temperature", "Anthropic accepts temperatures from 0 to 1")
        else:
            out["temperature"] = temperature
    if top_p is not None:
        if thinking and isinstance(top_p, int | float) and not 0.95 <= top_p <= 1:
            ctx.unsupported("top_p", "Anthropic allows top_p only from 0.95 to 1 with extended thinking")
        else:
            out["top_p"] = top_p
    if top_k is not None:
        if thinking:
            ctx.unsupported("top_k", "Anthropic allows no top_k with extended thinking")
        else:
            out["top_k"] = top_k


def _thinking(body: Mapping[str, Any], ctx: TranslationContext, forced: bool) -> dict[str, Any] | None:
    raw, effort = body.get("thinking"), body.get("reasoning_effort")
    if raw is not None:
        if not isinstance(raw, dict) or raw.get("type") not in ("enabled", "disabled", "adaptive"):
            raise InvalidRequestError("`thinking` must be an Anthropic thinking object", param="thinking")
        config, param = dict(raw), "thinking"
    elif effort is None or effort == "none":
        return None
    elif effort in REASONING_BUDGETS:
        config, param = {"type": "enabled", "budget_tokens": REASONING_BUDGETS[effort]}, "reasoning_effort"
    else:
        raise InvalidRequestError(f"unknown reasoning_effort {effort!r}", param="reasoning_effort")
    if forced and config["type"] != "disabled":
        ctx.unsupported(
            param, "Anthropic cannot think while a tool call is forced (tool_choice required or named, JSON mode)"
        )
        return None
    return config


# ------------------------------------------------------------------------------------------------ tools


def _tools_and_choice(body: Mapping[str, Any], ctx: TranslationContext) -> tuple[list[Block], dict[str, Any] | None]:
    tools = _tools(body.get("tools"), ctx)
    choice = _tool_choice(body.get("tool_choice"), tools, ctx)
    json_tool = _json_tool(body.get("response_format"), ctx)
    if json_tool is not None:
        kind = choice["type"] if choice is not None else "auto"
        if not tools or kind == "none":
            tools, choice = [*tools, json_tool], {"type": "tool", "name": JSON_TOOL_NAME}
        elif kind == "auto":
            tools, choice = [*tools, json_tool], {"type": "any"}
    if body.get("parallel_tool_calls") is False and tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice = {**choice, "disable_parallel_tool_use": True}
    return tools, choice


def _tools(value: Any, ctx: TranslationContext) -> list[Block]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequestError("`tools` must be an array", param="tools")
    out: list[Block] = []
    for j, tool in enumerate(value):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            if kind is None:
                raise InvalidRequestError("each tool needs a type", param=f"tools[{j}]")
            ctx.unsupported("tools[].type", f"{kind!r} tools are not supported by Anthropic")
            continue
        out.append(_function_tool(tool, f"tools[{j}]"))
    return out


def _function_tool(tool: dict[str, Any], where: str) -> Block:
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError("each function tool needs a function name", param=f"{where}.function.name")
    if function["name"] == JSON_TOOL_NAME:
        raise InvalidRequestError(f"the tool name {JSON_TOOL_NAME!r} is reserved", param=f"{where}.function.name")
    params = function.get("parameters")
    if params is None:
        schema: dict[str, Any] = {"type": "object", "properties": {}}
    elif isinstance(params, dict):
        schema = params if "type" in params else {"type": "object", **params}
    else:
        raise InvalidRequestError("function parameters must be a JSON schema object", param=f"{where}.function")
    out: Block = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        out["description"] = function["description"]
    out["input_schema"] = schema
    if function.get("strict") is True:
        out["strict"] = True
    marker = tool.get("cache_control", function.get("cache_control"))
    if marker is not None:
        out["cache_control"] = cache_marker(marker, f"{where}.cache_control")
    return out


def _tool_choice(value: Any, tools: list[Block], ctx: TranslationContext) -> dict[str, Any] | None:
    if value is None:
        return None
    if value in ("auto", "none"):
        return {"type": value} if tools else None
    if value == "required":
        if not tools:
            raise InvalidRequestError("tool_choice 'required' needs tools", param="tool_choice")
        return {"type": "any"}
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or all(t["name"] != name for t in tools):
            raise InvalidRequestError("tool_choice names a function that is not in `tools`", param="tool_choice")
        return {"type": "tool", "name": name}
    if isinstance(value, dict) and value.get("type") == "allowed_tools":
        ctx.unsupported("tool_choice", "allowed_tools is not supported by Anthropic")
        return None
    raise InvalidRequestError("invalid tool_choice", param="tool_choice")


def _json_tool(value: Any, ctx: TranslationContext) -> Block | None:
    """The forced tool that carries a ``response_format`` answer, or None for plain text."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return None
    description = "Give your final answer by calling this tool: its input is the answer, as one JSON object."
    tool: Block = {"name": JSON_TOOL_NAME, "description": description, "input_schema": {"type": "object"}}
    if kind == "json_object":
        return tool
    spec = value.get("json_schema") if kind == "json_schema" else None
    if not isinstance(spec, dict):
        raise InvalidRequestError("invalid response_format", param="response_format")
    schema = spec.get("schema")
    if schema is None:
        return tool
    if not isinstance(schema, dict) or schema.get("type") != "object":
        ctx.unsupported("response_format", "Anthropic can only force JSON objects (the schema's type must be object)")
        return None
    details = [f"Schema name: {spec['name']}." if isinstance(spec.get("name"), str) else ""]
    if isinstance(spec.get("description"), str):
        details.append(spec["description"])
    tool["description"] = " ".join([description, *filter(None, details)])
    tool["input_schema"] = schema
    if spec.get("strict") is True:
        tool["strict"] = True
    return tool
