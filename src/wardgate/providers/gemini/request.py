"""OpenAI chat request → Gemini ``GenerateContentRequest`` (Gemini API and Vertex AI share the body).

Reference: https://ai.google.dev/api/generate-content#request-body,
https://ai.google.dev/api/generate-content#v1beta.GenerationConfig,
https://ai.google.dev/gemini-api/docs/function-calling#function_calling_modes,
https://ai.google.dev/gemini-api/docs/structured-output, https://ai.google.dev/gemini-api/docs/thinking.

Everything OpenAI sends is either translated here or reported through ``ctx.unsupported``: ``user`` (no
equivalent), ``parallel_tool_calls: false`` (Gemini cannot be told to make one call at a time), ``logprobs`` /
``top_logprobs`` (Gemini's log-probability format is not translated back), message ``name``\\s, non-function
tools, and every OpenAI field not listed in :data:`HANDLED` unless its value is neutral.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequestError
from wardgate.providers.gemini.messages import convert_messages
from wardgate.providers.gemini.schema import to_gemini_schema
from wardgate.providers.translate import TranslationContext

JSONDict = dict[str, Any]

HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "n",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
        "reasoning_effort",
        "user",
    }
)
# reasoning_effort → thinkingBudget (tokens); https://ai.google.dev/gemini-api/docs/thinking#set-budget
THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576}


def chat_request(body: Mapping[str, Any], ctx: TranslationContext) -> JSONDict:
    """The Gemini request body for an OpenAI chat body (never mutates ``body``)."""
    ctx.check_unknown({k: v for k, v in body.items() if v is not None}, HANDLED)
    # ``user`` (an end-user id for abuse monitoring) never changes the answer and Gemini has no field for it, so it
    # is accepted and not forwarded rather than refused (Claude Code sends one on every request).
    messages = body.get("messages")
    if isinstance(messages, list) and any(isinstance(m, Mapping) and m.get("name") is not None for m in messages):
        ctx.unsupported("name", "Gemini turns carry no participant names")
    system, contents = convert_messages(messages, need_signatures=needs_thought_signatures(ctx.upstream_model))
    request: JSONDict = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    tools, tool_config = _tools(body, ctx)
    if tools:
        request["tools"] = tools
    if tool_config:
        request["toolConfig"] = tool_config
    config = generation_config(body)
    if config:
        request["generationConfig"] = config
    return request


def needs_thought_signatures(model: str) -> bool:
    """Gemini 3 models reject replayed function calls without a thought signature."""
    name = model.removeprefix("models/")
    return name.startswith("gemini-3")


# --------------------------------------------------------------------------------------------- tools


def _tools(body: Mapping[str, Any], ctx: TranslationContext) -> tuple[list[JSONDict], JSONDict | None]:
    raw = body.get("tools")
    declarations: list[JSONDict] = []
    if raw is not None:
        if not isinstance(raw, list):
            raise InvalidRequestError("`tools` must be an array", param="tools")
        for tool in raw:
            declaration = _declaration(tool, ctx)
            if declaration is not None:
                declarations.append(declaration)
    choice = body.get("tool_choice")
    config = _tool_config(choice, {d["name"] for d in declarations}) if declarations else None
    if not declarations and choice not in (None, "none", "auto"):
        raise InvalidRequestError("`tool_choice` needs `tools`", param="tool_choice")
    return ([{"functionDeclarations": declarations}] if declarations else []), config


def _declaration(tool: Any, ctx: TranslationContext) -> JSONDict | None:
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        ctx.unsupported("tools", "Gemini takes only function tools")
        return None
    function = tool.get("function")
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str) or not function["name"]:
        raise InvalidRequestError("every function tool needs a name", param="tools")
    declaration: JSONDict = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if parameters is not None:
        schema = to_gemini_schema(parameters, param="tools")
        if schema.get("type") != "OBJECT":
            raise InvalidRequestError("function parameters must be an object schema", param="tools")
        if schema.get("properties"):  # Gemini rejects an OBJECT with no properties; no parameters says the same
            declaration["parameters"] = schema
    return declaration


def _tool_config(choice: Any, names: set[str]) -> JSONDict | None:
    """``tool_choice`` → ``functionCallingConfig`` (AUTO / NONE / ANY, ``allowedFunctionNames`` for a name)."""
    if choice is None or choice == "auto":
        return None
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or name not in names:
            raise InvalidRequestError("`tool_choice` names a function that is not in `tools`", param="tool_choice")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    if isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
        return _allowed_tools(choice.get("allowed_tools"), names)
    raise InvalidRequestError("`tool_choice` has an unknown value", param="tool_choice")


def _allowed_tools(spec: Any, names: set[str]) -> JSONDict:
    """OpenAI ``allowed_tools``: required → ANY, auto → VALIDATED (calls limited to the names, or text)."""
    if not isinstance(spec, Mapping) or spec.get("mode") not in ("auto", "required"):
        raise InvalidRequestError("`tool_choice.allowed_tools` is malformed", param="tool_choice")
    allowed: list[str] = []
    for tool in spec.get("tools") or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or name not in names:
            raise InvalidRequestError("`allowed_tools` names a function that is not in `tools`", param="tool_choice")
        allowed.append(name)
    mode = "ANY" if spec["mode"] == "required" else "VALIDATED"
    return {"functionCallingConfig": {"mode": mode, "allowedFunctionNames": allowed}}


# --------------------------------------------------------------------------------- generationConfig


def generation_config(body: Mapping[str, Any]) -> JSONDict:
    config: JSONDict = {}
    for source, target in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed")):
        if body.get(source) is not None:
            config[target] = body[source]
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if isinstance(stop, str):
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = stop
    n = body.get("n")
    if n is not None and n != 1:
        config["candidateCount"] = n
    for source, target in (("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if body.get(source):
            config[target] = body[source]
    config.update(_response_format(body.get("response_format")))
    thinking = _thinking(body.get("reasoning_effort"))
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _response_format(spec: Any) -> JSONDict:
    """json_object → JSON mime type; json_schema → JSON mime type + native ``responseSchema``."""
    if spec is None:
        return {}
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        wrapper = spec.get("json_schema")
        if not isinstance(wrapper, Mapping):
            raise InvalidRequestError("`response_format.json_schema` is required", param="response_format")
        result: JSONDict = {"responseMimeType": "application/json"}
        if wrapper.get("schema") is not None:
            result["responseSchema"] = to_gemini_schema(wrapper["schema"], param="response_format", ordering=True)
        return result
    raise InvalidRequestError(
        "`response_format.type` must be text, json_object or json_schema", param="response_format"
    )


def _thinking(effort: Any) -> JSONDict | None:
    if effort is None:
        return None
    budget = THINKING_BUDGETS.get(effort) if isinstance(effort, str) else None
    if budget is None:
        raise InvalidRequestError(
            "`reasoning_effort` must be one of none, minimal, low, medium, high", param="reasoning_effort"
        )
    if budget == 0:
        return {"thinkingBudget": 0}
    return {"thinkingBudget": budget, "includeThoughts": True}
