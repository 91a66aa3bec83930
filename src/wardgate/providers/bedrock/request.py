"""OpenAI chat request → Bedrock Converse / ConverseStream request body (pure; never mutates its input).

Shapes: https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html (checked against botocore's
``bedrock-runtime/2023-09-30/service-2.json``). Decisions:

- ``response_format`` json_object / json_schema → a tool ``json_response`` whose input schema is the JSON schema,
  forced with ``toolChoice`` (Converse has no JSON mode that every model honours); the response and stream
  translators turn its input back into plain ``content``. With user tools and ``tool_choice`` auto the JSON tool
  joins them under ``toolChoice: any`` (the model either calls a tool or answers in JSON).
- ``tool_choice: none`` → no ``toolConfig``. Converse has no "none", and it demands a ``toolConfig`` whenever the
  history holds toolUse/toolResult blocks: then "none" cannot be honoured (→ ``ctx.unsupported``; dropped, the
  tools are sent with ``auto``).
- ``reasoning_effort`` → Claude's ``thinking.budget_tokens`` (https://docs.aws.amazon.com/bedrock/latest/userguide/
  claude-messages-extended-thinking.html) or Nova 2's ``reasoningConfig.maxReasoningEffort``
  (https://docs.aws.amazon.com/nova/latest/nova2-userguide/extended-thinking.html), both in
  ``additionalModelRequestFields``; other models → ``ctx.unsupported``.
- ``metadata`` and ``user`` / ``safety_identifier`` → ``requestMetadata`` (what Bedrock logs with the invocation);
  ``service_tier`` flex / priority → ``serviceTier``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequestError
from wardgate.providers.bedrock.messages import Block, cache_point, convert_messages, has_tool_blocks
from wardgate.providers.translate import TranslationContext

JSON_TOOL = "json_response"
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
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "reasoning_effort",
        "metadata",
        "user",
        "safety_identifier",
        "service_tier",
    }
)
# Claude's thinking budget per OpenAI effort; Anthropic's minimum budget is 1024 tokens. "high" stays low enough
# that budget + the default answer allowance remains under 21,333 max tokens, above which Claude on Bedrock
# requires streaming.
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
MIN_THINKING_BUDGET = 1024
_METADATA_KEY = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{1,256}")
_METADATA_VALUE = re.compile(r"[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}")
_MAX_METADATA = 16


def model_family(model_id: str) -> str:
    """``claude`` | ``nova2`` | ``other``, from a model id, inference profile id or ARN."""
    lowered = model_id.lower()
    if "anthropic.claude" in lowered or "claude-" in lowered:
        return "claude"
    if "nova-2" in lowered:
        return "nova2"
    return "other"


def converse_body(body: Mapping[str, Any], ctx: TranslationContext) -> dict[str, Any]:
    """The Converse request body (the model id goes in the path, not here)."""
    ctx.check_unknown({k: v for k, v in body.items() if v is not None}, HANDLED)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("`messages` must be a non-empty list", param="messages")
    system, turns = convert_messages(messages, ctx)
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    tool_config, forced = tool_configuration(body, ctx, has_tool_blocks(turns))
    if tool_config is not None:
        out["toolConfig"] = tool_config
    inference = inference_config(body, ctx)
    additional = reasoning_fields(body, ctx, inference, forced)
    if inference:
        out["inferenceConfig"] = inference
    if additional:
        out["additionalModelRequestFields"] = additional
    metadata = request_metadata(body, ctx)
    if metadata:
        out["requestMetadata"] = metadata
    tier = body.get("service_tier")
    if tier in ("flex", "priority"):
        out["serviceTier"] = {"type": tier}
    elif tier not in (None, "auto", "default"):
        ctx.unsupported("service_tier", "Bedrock offers the flex and priority tiers only")
    return out


def inference_config(body: Mapping[str, Any], ctx: TranslationContext) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidRequestError("`max_tokens` must be a positive integer", param="max_tokens")
        config["maxTokens"] = limit
    temperature = body.get("temperature")
    if temperature is not None:
        if _number(temperature, "temperature") > 1:
            ctx.unsupported("temperature", "Bedrock accepts temperatures from 0 to 1")
        else:
            config["temperature"] = temperature
    top_p = body.get("top_p")
    if top_p is not None:
        _number(top_p, "top_p")
        config["topP"] = top_p
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if stop:
            config["stopSequences"] = list(stop)
    elif stop is not None:
        raise InvalidRequestError("`stop` must be a string or a list of strings", param="stop")
    return config


def _number(value: Any, param: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidRequestError(f"`{param}` must be a non-negative number", param=param)
    return float(value)


def _tool_specs(tools: Any, ctx: TranslationContext) -> tuple[list[Block], set[str]]:
    if tools is None:
        return [], set()
    if not isinstance(tools, list):
        raise InvalidRequestError("`tools` must be a list", param="tools")
    specs: list[Block] = []
    names: set[str] = set()
    for tool in tools:
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            ctx.unsupported("tools", "Bedrock only takes function tools")
            continue
        function = tool.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise InvalidRequestError("each tool needs a `function.name`", param="tools")
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        spec: dict[str, Any] = {"name": function["name"], "inputSchema": {"json": parameters}}
        if function.get("description"):
            spec["description"] = function["description"]
        if function.get("strict") is True:
            spec["strict"] = True
        specs.append({"toolSpec": spec})
        point = cache_point(tool.get("cache_control"))
        if point is not None:
            specs.append(point)
        names.add(function["name"])
    return specs, names


def _json_tool(body: Mapping[str, Any]) -> Block | None:
    """The forced tool that carries JSON mode, or None when no JSON output is requested."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        schema: Any = {"type": "object"}
        description = "Give the answer as a JSON object."
        strict = False
    elif kind == "json_schema" and isinstance(fmt.get("json_schema"), Mapping):
        spec = fmt["json_schema"]
        schema = spec.get("schema") or {"type": "object"}
        description = spec.get("description") or f"Give the answer as JSON matching the {spec.get('name')} schema."
        strict = spec.get("strict") is True
    else:
        raise InvalidRequestError("`response_format` must be text, json_object or json_schema", param="response_format")
    tool: dict[str, Any] = {"name": JSON_TOOL, "description": description, "inputSchema": {"json": schema}}
    if strict:
        tool["strict"] = True
    return {"toolSpec": tool}


def _choice_mode(choice: Any, has_tools: bool) -> str | tuple[str, str]:
    if choice is None:
        return "auto" if has_tools else "none"
    if choice in ("auto", "none", "required"):
        return str(choice)
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        function = choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return ("tool", function["name"])
    raise InvalidRequestError("unsupported `tool_choice`", param="tool_choice")


def tool_configuration(
    body: Mapping[str, Any], ctx: TranslationContext, history_has_tools: bool
) -> tuple[dict[str, Any] | None, bool]:
    """``(toolConfig or None, whether a tool is forced)``."""
    specs, names = _tool_specs(body.get("tools"), ctx)
    mode = _choice_mode(body.get("tool_choice"), bool(names))
    json_tool = _json_tool(body)
    if isinstance(mode, tuple) and mode[1] not in names:
        raise InvalidRequestError(f"tool_choice names an unknown tool {mode[1]!r}", param="tool_choice")
    if mode == "required" and not names:
        raise InvalidRequestError("tool_choice `required` needs tools", param="tool_choice")
    if JSON_TOOL in names:
        # Reserved: the response translators turn every call of this tool into plain content.
        raise InvalidRequestError(f"the tool name {JSON_TOOL!r} is reserved for JSON mode on Bedrock", param="tools")
    if json_tool is not None:
        if not names or mode == "none":
            return {"tools": [json_tool], "toolChoice": {"tool": {"name": JSON_TOOL}}}, True
        if mode == "auto":
            return {"tools": [*specs, json_tool], "toolChoice": {"any": {}}}, True
    if not names:
        if history_has_tools:
            raise InvalidRequestError(
                "Bedrock needs the `tools` definitions when the conversation contains tool calls", param="tools"
            )
        return None, False
    if mode == "none":
        if not history_has_tools:
            return None, False
        ctx.unsupported("tool_choice", "Bedrock cannot forbid tool calls once the conversation contains some")
        mode = "auto"
    if mode == "auto":
        return {"tools": specs, "toolChoice": {"auto": {}}}, False
    if mode == "required":
        return {"tools": specs, "toolChoice": {"any": {}}}, True
    return {"tools": specs, "toolChoice": {"tool": {"name": mode[1]}}}, True


def reasoning_fields(
    body: Mapping[str, Any], ctx: TranslationContext, inference: dict[str, Any], forced: bool
) -> dict[str, Any]:
    """``additionalModelRequestFields`` for ``reasoning_effort`` (may adjust ``inference`` for Claude)."""
    effort = body.get("reasoning_effort")
    if effort is None or effort == "none":
        return {}
    if effort not in THINKING_BUDGETS:
        ctx.unsupported("reasoning_effort", f"unknown effort {effort!r}")
        return {}
    family = model_family(ctx.upstream_model)
    if family == "nova2":
        return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low" if effort == "minimal" else effort}}
    if family != "claude":
        ctx.unsupported("reasoning_effort", "this Bedrock model has no reasoning setting the gateway can map")
        return {}
    if forced:
        ctx.unsupported("reasoning_effort", "Claude cannot think while a tool is forced (tool_choice or JSON mode)")
        return {}
    budget = THINKING_BUDGETS[effort]
    limit = inference.get("maxTokens")
    if limit is None:
        inference["maxTokens"] = budget + ctx.default_max_tokens
    elif limit <= budget:
        # OpenAI's max tokens include reasoning: give thinking at most half of them.
        budget = limit // 2
        if budget < MIN_THINKING_BUDGET:
            ctx.unsupported("reasoning_effort", "max_tokens leaves no room for Claude's 1024-token minimum budget")
            return {}
    # Claude thinking accepts neither temperature nor a top_p below 0.95.
    if inference.get("temperature", 1) != 1:
        ctx.unsupported("temperature", "Claude does not accept a temperature while thinking")
        inference.pop("temperature")
    if inference.get("topP", 1) < 0.95:
        ctx.unsupported("top_p", "Claude accepts top_p from 0.95 to 1 while thinking")
        inference.pop("topP")
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def request_metadata(body: Mapping[str, Any], ctx: TranslationContext) -> dict[str, str]:
    """``requestMetadata`` from OpenAI ``metadata`` and the end-user id, when Bedrock's key/value rules allow."""
    result: dict[str, str] = {}
    metadata = body.get("metadata")
    if metadata is not None:
        if isinstance(metadata, Mapping) and all(_metadata_ok(k, v) for k, v in metadata.items()):
            result.update(metadata)
        else:
            ctx.unsupported("metadata", "Bedrock requestMetadata allows only letters, digits and :_@$#=/+,-. ")
    for param in ("user", "safety_identifier"):
        value = body.get(param)
        if value is None:
            continue
        if _metadata_ok(param, value) and param not in result:
            result[param] = value
        else:
            ctx.unsupported(param, "it does not fit Bedrock's requestMetadata rules")
    if len(result) > _MAX_METADATA:
        ctx.unsupported("metadata", "Bedrock allows at most 16 requestMetadata entries")
        return {}
    return result


def _metadata_ok(key: Any, value: Any) -> bool:
    return (
        isinstance(key, str)
        and isinstance(value, str)
        and _METADATA_KEY.fullmatch(key) is not None
        and _METADATA_VALUE.fullmatch(value) is not None
    )
