"""``anthropic_to_openai_request``: an Anthropic Messages request → the canonical OpenAI chat body.

The inverse of ``wardgate.providers.anthropic.request`` (https://docs.anthropic.com/en/api/messages), so a request
that goes Anthropic → canonical → an Anthropic deployment arrives as the client wrote it. Mappings:

* ``max_tokens`` (required) → ``max_tokens``; ``stop_sequences`` → ``stop``; ``temperature`` / ``top_p`` pass;
  ``top_k`` stays ``top_k`` (providers without it refuse it through their ``unsupported_params`` setting).
* ``tools`` (custom tools) → function tools (``input_schema`` → ``parameters``, ``strict`` and ``cache_control``
  kept). Server tools (``type`` other than ``custom``: web search, code execution, …) raise, naming
  ``tools[i]``: only Anthropic runs them, and Anthropic deployments are served by passthrough.
  ``eager_input_streaming`` is accepted and has nothing to map: OpenAI-format streams already send tool
  arguments as they are generated.
* ``tool_choice``: auto → ``"auto"``, any → ``"required"``, tool → a named function, none → ``"none"``;
  ``disable_parallel_tool_use: true`` → ``parallel_tool_calls: false``. Without tools, auto and none ask for
  nothing (OpenAI refuses a ``tool_choice`` without ``tools``), so they are left out.
* ``thinking`` (enabled) → ``reasoning_effort``, the largest standard effort whose ``REASONING_BUDGETS`` budget
  fits in ``budget_tokens`` (≥ 16384 high, ≥ 4096 medium, else low); the canonical body stays standard OpenAI,
  since Anthropic deployments receive the native body untouched. ``output_config.effort`` (xhigh, max → high)
  wins over that when given;
  ``output_config.format`` (a JSON schema) → ``response_format`` ``json_schema`` (strict).
* ``metadata.user_id`` → ``user``; ``stream`` → ``stream`` with ``stream_options.include_usage`` (Anthropic's
  stream always reports usage); a top-level ``cache_control`` marks the last message (where Anthropic's
  automatic caching puts its breakpoint).
* ``null`` fields are absent; ``service_tier``, ``speed: "standard"`` and a ``context_management`` that clears
  nothing (``clear_thinking_20251015`` with ``keep: "all"``, which Claude Code sends by default) ask for nothing a
  non-Anthropic provider would do differently. Every other field (``mcp_servers``, ``container``, other
  ``context_management`` edits, …) raises ``InvalidRequestError`` naming it: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.api.anthropic.translate.common import (
    JSONDict,
    cache_control,
    check_keys,
    present,
    with_cache,
)
from wardgate.api.anthropic.translate.messages import convert_messages, convert_system
from wardgate.core.errors import InvalidRequestError

REASONING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
"""The same table as ``wardgate.providers.anthropic.request.REASONING_BUDGETS`` (effort → budget_tokens)."""
MIN_THINKING_BUDGET = 1024
OUTPUT_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}

HANDLED = frozenset(
    {
        "model",
        "messages",
        "system",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "metadata",
        "stream",
        "cache_control",
    }
)
KEEP_ALL_THINKING = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
"""The ``context_management`` Claude Code sends by default: it clears nothing."""
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "service_tier": ("auto", "standard_only"),
    "speed": ("standard",),
    "context_management": (KEEP_ALL_THINKING, {"edits": []}),
}
_TOOL_KEYS = ("type", "name", "description", "input_schema", "cache_control", "strict", "eager_input_streaming")
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def anthropic_to_openai_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI chat body for an Anthropic Messages request body (never mutated)."""
    fields = present(body)
    _check_unknown(fields)
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("`model` is required and must be a non-empty string", param="model")
    messages = convert_system(fields.get("system")) + convert_messages(fields.get("messages"))
    if "cache_control" in fields:
        _mark_last(messages, cache_control(fields["cache_control"], "cache_control"))
    out: JSONDict = {"model": model, "messages": messages, "max_tokens": _max_tokens(fields.get("max_tokens"))}
    _sampling(fields, out)
    if "stop_sequences" in fields:
        out["stop"] = _stop_sequences(fields["stop_sequences"])
    _tools_and_choice(fields, out)
    _reasoning(fields, out)
    if "metadata" in fields:
        _metadata(fields["metadata"], out)
    stream = fields.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequestError("`stream` must be a boolean", param="stream")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _check_unknown(fields: Mapping[str, Any]) -> None:
    unknown = [
        name for name, value in fields.items() if name not in HANDLED and value not in NEUTRAL_VALUES.get(name, ())
    ]
    if unknown:
        names = ", ".join(f"`{name}`" for name in unknown)
        raise InvalidRequestError(
            f"{names} cannot be translated for a non-Anthropic provider; send {'them' if len(unknown) > 1 else 'it'} "
            "to a model served by Anthropic, or leave it out",
            param=unknown[0],
        )


def _max_tokens(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequestError("`max_tokens` is required and must be a positive integer", param="max_tokens")
    return value


def _sampling(fields: Mapping[str, Any], out: JSONDict) -> None:
    for name in ("temperature", "top_p"):
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidRequestError(f"`{name}` must be a number", param=name)
        out[name] = value
    top_k = fields.get("top_k")
    if top_k is not None:
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
            raise InvalidRequestError("`top_k` must be a non-negative integer", param="top_k")
        out["top_k"] = top_k


def _stop_sequences(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise InvalidRequestError("`stop_sequences` must be an array of strings", param="stop_sequences")
    return list(value)


def _metadata(value: Any, out: JSONDict) -> None:
    if not isinstance(value, Mapping):
        raise InvalidRequestError("`metadata` must be an object", param="metadata")
    check_keys(value, ("user_id",), "metadata", "metadata")
    user = value.get("user_id")
    if user is not None:
        if not isinstance(user, str):
            raise InvalidRequestError("`metadata.user_id` must be a string", param="metadata.user_id")
        out["user"] = user


def _mark_last(messages: list[JSONDict], marker: JSONDict) -> None:
    """Top-level ``cache_control``: a breakpoint on the last message, unless it already ends with one."""
    last = messages[-1]
    content = last.get("content")
    if "cache_control" in last or (isinstance(content, list) and content and "cache_control" in content[-1]):
        return
    last["cache_control"] = marker


# ------------------------------------------------------------------------------------------------ tools


def _tools_and_choice(fields: Mapping[str, Any], out: JSONDict) -> None:
    names: list[str] = []
    if "tools" in fields:
        tools = _tools(fields["tools"])
        names = [tool["function"]["name"] for tool in tools]
        if tools:
            out["tools"] = tools
    choice = fields.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise InvalidRequestError("tool_choice.type must be auto, any, tool or none", param="tool_choice")
    check_keys(choice, ("type", "name", "disable_parallel_tool_use"), "tool_choice", "tool_choice")
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or name not in names:
            raise InvalidRequestError("tool_choice names a tool that is not in `tools`", param="tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    elif names:
        out["tool_choice"] = _TOOL_CHOICES[kind]
    elif kind == "any":
        raise InvalidRequestError("tool_choice 'any' needs tools", param="tool_choice")
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise InvalidRequestError(
            "disable_parallel_tool_use must be a boolean", param="tool_choice.disable_parallel_tool_use"
        )
    if disable and kind != "none" and names:
        out["parallel_tool_calls"] = False


def _tools(value: Any) -> list[JSONDict]:
    if not isinstance(value, list):
        raise InvalidRequestError("`tools` must be an array", param="tools")
    out: list[JSONDict] = []
    for j, tool in enumerate(value):
        where = f"tools[{j}]"
        if not isinstance(tool, Mapping):
            raise InvalidRequestError("each tool must be an object", param=where)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            raise InvalidRequestError(
                f"the server tool {kind!r} runs only on Anthropic; this model is served by another provider",
                param=where,
            )
        settings = {k: v for k, v in tool.items() if not (k == "defer_loading" and v is False)}
        check_keys(settings, _TOOL_KEYS, where, "tools")
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("each tool needs a name", param=f"{where}.name")
        if not isinstance(schema, Mapping):
            raise InvalidRequestError("each tool needs an input_schema object", param=f"{where}.input_schema")
        function: JSONDict = {"name": name}
        description = tool.get("description")
        if description is not None:
            if not isinstance(description, str):
                raise InvalidRequestError("a tool description must be a string", param=f"{where}.description")
            function["description"] = description
        function["parameters"] = dict(schema)
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        out.append(with_cache({"type": "function", "function": function}, tool, where))
    return out


# -------------------------------------------------------------------------------------------- reasoning


def effort_for_budget(budget: int) -> str:
    """The largest ``reasoning_effort`` whose budget in ``REASONING_BUDGETS`` fits in ``budget`` tokens."""
    for effort in ("high", "medium"):
        if budget >= REASONING_BUDGETS[effort]:
            return effort
    return "low"


def _reasoning(fields: Mapping[str, Any], out: JSONDict) -> None:
    thinking = fields.get("thinking")
    if thinking is not None:
        config = _thinking(thinking)  # validated; the canonical form carries it as reasoning_effort only
        if config["type"] == "enabled":
            out["reasoning_effort"] = effort_for_budget(config["budget_tokens"])
    output = fields.get("output_config")
    if output is None:
        return
    if not isinstance(output, Mapping):
        raise InvalidRequestError("`output_config` must be an object", param="output_config")
    check_keys(output, ("effort", "format"), "output_config", "output_config")
    effort = output.get("effort")
    if effort is not None:
        if effort not in OUTPUT_EFFORTS:
            raise InvalidRequestError(
                "output_config.effort must be low, medium, high, xhigh or max", param="output_config.effort"
            )
        out["reasoning_effort"] = OUTPUT_EFFORTS[effort]
    if output.get("format") is not None:
        out["response_format"] = _response_format(output["format"])


def _thinking(value: Any) -> JSONDict:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in ("enabled", "disabled", "adaptive"):
        raise InvalidRequestError("thinking.type must be enabled, disabled or adaptive", param="thinking.type")
    assert isinstance(value, Mapping)
    check_keys(value, ("type", "budget_tokens", "display"), "thinking", "thinking")
    if kind == "enabled":
        budget = value.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_THINKING_BUDGET:
            raise InvalidRequestError(
                f"thinking.budget_tokens must be an integer of at least {MIN_THINKING_BUDGET}",
                param="thinking.budget_tokens",
            )
    elif value.get("budget_tokens") is not None:
        raise InvalidRequestError(f"budget_tokens applies only to enabled thinking, not {kind}", param="thinking")
    return present(value)


def _response_format(value: Any) -> JSONDict:
    where = "output_config.format"
    if not isinstance(value, Mapping) or value.get("type") != "json_schema":
        raise InvalidRequestError("output_config.format must be a json_schema format", param=where)
    check_keys(value, ("type", "schema"), where, "output_config.format")
    schema = value.get("schema")
    if not isinstance(schema, Mapping):
        raise InvalidRequestError("output_config.format needs a schema object", param=f"{where}.schema")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": dict(schema), "strict": True}}
