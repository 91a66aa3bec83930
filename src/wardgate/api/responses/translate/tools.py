"""Responses ``tools``, ``tool_choice`` and ``parallel_tool_calls`` → their chat forms (see ``request``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.api.responses.translate.common import (
    JSONDict,
    invalid_type,
    invalid_value,
    missing,
    require_object,
    require_str,
    unsupported,
)
from wardgate.core.errors import InvalidRequestError

CHOICES = ("auto", "none", "required")
_FUNCTION_KEYS = frozenset({"type", "name", "description", "parameters", "strict"})
_NEUTRAL_FUNCTION_KEYS: dict[str, tuple[Any, ...]] = {
    "defer_loading": (False,),
    "async": (False,),
    "allowed_callers": (["direct"],),
}
"""Function tool fields whose value asks for nothing beyond a plain function (``defer_loading``, ``async`` and
programmatic callers belong to OpenAI's tool search and programmatic tool calling)."""


def tools_and_choice(fields: Mapping[str, Any], out: JSONDict) -> None:
    """Set ``tools``, ``tool_choice`` and ``parallel_tool_calls`` of the chat body ``out``."""
    tools = _tools(fields.get("tools", []))
    choice = fields.get("tool_choice")
    if choice is not None:
        tools, choice = _choice(choice, tools)
    parallel = fields.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise invalid_type("parallel_tool_calls", "a boolean", parallel)
    if not tools:
        if choice == "required" or isinstance(choice, dict):
            raise InvalidRequestError(
                "Invalid value for 'tool_choice': a tool must be called, but no function tools are given.",
                param="tool_choice",
            )
        return
    out["tools"] = tools
    if choice is not None:
        out["tool_choice"] = choice
    if parallel is not None:
        out["parallel_tool_calls"] = parallel


def _tools(value: Any) -> list[JSONDict]:
    if not isinstance(value, list):
        raise invalid_type("tools", "an array", value)
    out = []
    for i, tool in enumerate(value):
        where = f"tools[{i}]"
        tool = require_object(tool, where)
        kind = require_str(tool, "type", where)
        if kind != "function":
            raise unsupported("tools", f"{where}: the '{kind}' tool")
        for key, item in tool.items():
            if key not in _FUNCTION_KEYS and item is not None and item not in _NEUTRAL_FUNCTION_KEYS.get(key, ()):
                raise unsupported(f"{where}.{key}", f"The function tool field '{key}'")
        function: JSONDict = {"name": require_str(tool, "name", where)}
        description = require_str(tool, "description", where, optional=True)
        if description is not None:
            function["description"] = description
        parameters = tool.get("parameters")
        if parameters is not None:
            function["parameters"] = dict(require_object(parameters, f"{where}.parameters"))
        strict = tool.get("strict")
        if strict is not None:
            if not isinstance(strict, bool):
                raise invalid_type(f"{where}.strict", "a boolean", strict)
            function["strict"] = strict
        out.append({"type": "function", "function": function})
    return out


def _choice(value: Any, tools: list[JSONDict]) -> tuple[list[JSONDict], str | JSONDict]:
    """``(tools, chat tool_choice)``: ``allowed_tools`` narrows the tools."""
    if isinstance(value, str):
        if value not in CHOICES:
            raise invalid_value("tool_choice", value, CHOICES)
        return tools, value
    choice = require_object(value, "tool_choice")
    kind = require_str(choice, "type", "tool_choice")
    names = {tool["function"]["name"] for tool in tools}
    if kind == "function":
        name = require_str(choice, "name", "tool_choice")
        _known(name, names, "tool_choice.name")
        return tools, {"type": "function", "function": {"name": name}}
    if kind == "allowed_tools":
        mode = choice.get("mode")
        if mode not in ("auto", "required"):
            raise invalid_value("tool_choice.mode", mode, ("auto", "required"))
        allowed = choice.get("tools")
        if allowed is None:
            raise missing("tool_choice.tools")
        if not isinstance(allowed, list):
            raise invalid_type("tool_choice.tools", "an array", allowed)
        keep = set()
        for j, entry in enumerate(allowed):
            where = f"tool_choice.tools[{j}]"
            entry = require_object(entry, where)
            entry_kind = require_str(entry, "type", where)
            if entry_kind != "function":
                raise unsupported("tool_choice", f"{where}: the '{entry_kind}' tool")
            keep.add(_known(require_str(entry, "name", where) or "", names, f"{where}.name"))
        return [tool for tool in tools if tool["function"]["name"] in keep], str(mode)
    raise unsupported("tool_choice", f"A tool_choice of type '{kind}'")


def _known(name: str | None, names: set[str], param: str) -> str:
    if name not in names:
        raise InvalidRequestError(
            f"Invalid value: '{name}'. tool_choice names a function that is not in 'tools'.", param=param
        )
    assert name is not None
    return name
