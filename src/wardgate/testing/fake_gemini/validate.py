"""Strict checks of a ``GenerateContentRequest``, answering like the real API (400 INVALID_ARGUMENT).

Covers what a translator can get wrong: unknown fields (camelCase proto names only), roles, empty parts, one data
field per part, base64 ``inlineData``, function-call / function-response turn order and counts
(https://ai.google.dev/gemini-api/docs/function-calling), Gemini 3's thought-signature rule
(https://ai.google.dev/gemini-api/docs/thought-signatures), function names, tool config, the OpenAPI schema subset
(https://ai.google.dev/api/caching#Schema) and generation config types.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from wardgate.testing.fake_gemini import errors
from wardgate.testing.fake_gemini.schema import SchemaError, check_schema

JSONDict = dict[str, Any]

REQUEST_FIELDS = frozenset(
    {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings", "cachedContent"}
)
VERTEX_EXTRA_FIELDS = frozenset({"labels", "model"})
PART_DATA = frozenset(
    {"text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"}
)
PART_FIELDS = PART_DATA | {"thought", "thoughtSignature", "videoMetadata", "mediaResolution", "partMetadata"}
GENERATION_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
    }
)
TOOL_FIELDS = frozenset(
    {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext", "fileSearch"}
)
DECLARATION_FIELDS = frozenset(
    {"name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema", "behavior"}
)
_FUNCTION_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}")
_BAD_NAME = (
    "Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), "
    "underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 64."
)
_MODES = frozenset({"AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"})
_JSON_MIME = frozenset({"application/json", "text/x.enum"})


class Invalid(Exception):
    """A request the real API would refuse; ``body`` is the error body to send."""

    def __init__(self, body: JSONDict, status: int = 400) -> None:
        super().__init__(str(body))
        self.body = body
        self.status = status


def fail(message: str) -> Invalid:
    return Invalid(errors.invalid_argument(message))


def reject_unknown(obj: Mapping[str, Any], allowed: frozenset[str], where: str | None = None) -> None:
    for name in obj:
        if name not in allowed:
            raise Invalid(errors.unknown_field(name, where))


def validate_generate(body: JSONDict, *, vertex: bool, model: str) -> None:
    """Raise :class:`Invalid` when the real API would refuse ``body``."""
    reject_unknown(body, REQUEST_FIELDS | (VERTEX_EXTRA_FIELDS if vertex else frozenset()))
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise fail("* GenerateContentRequest.contents: contents is not specified\n")
    system = body.get("systemInstruction")
    if system is not None:
        _check_content(system, "system_instruction", system=True)
    for index, content in enumerate(contents):
        _check_content(content, f"contents[{index}]", system=False, single=len(contents) == 1)
    _check_turns(contents, model)
    declared = _check_tools(body.get("tools"))
    _check_tool_config(body.get("toolConfig"), declared)
    _check_generation(body.get("generationConfig"))


def _check_content(content: Any, where: str, *, system: bool, single: bool = True) -> None:
    if not isinstance(content, Mapping):
        raise fail(f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content)")
    reject_unknown(content, frozenset({"role", "parts"}), where)
    role = content.get("role")
    if not system and (role not in ("user", "model") if role is not None else not single):
        raise fail("Please use a valid role: user, model.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise fail(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n")
    for index, part in enumerate(parts):
        _check_part(part, f"{where}.parts[{index}]", system=system)


def _check_part(part: Any, where: str, *, system: bool) -> None:
    if not isinstance(part, Mapping):
        raise fail(f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part)")
    reject_unknown(part, PART_FIELDS, where)
    data = [name for name in part if name in PART_DATA]
    if len(data) != 1:
        raise fail(
            f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized field\n"
        )
    if system and data[0] != "text":
        raise fail("* GenerateContentRequest.system_instruction: only text parts are supported\n")
    if not isinstance(part.get("text", ""), str):
        raise fail(f"Invalid value at '{where}.text' (TYPE_STRING)")
    signature = part.get("thoughtSignature")
    if signature is not None and not _is_base64(signature):
        raise fail(f"Invalid value at '{where}.thought_signature' (TYPE_BYTES), Base64 decoding failed")
    inline = part.get("inlineData")
    if inline is not None:
        _check_inline(inline, f"{where}.inline_data")
    call = part.get("functionCall")
    if call is not None and (not isinstance(call, Mapping) or not isinstance(call.get("name"), str)):
        raise fail(f"* GenerateContentRequest.{where}.function_call.name: Name cannot be empty.\n")
    if call is not None and not isinstance(call.get("args", {}), Mapping):
        raise fail(f"Invalid value at '{where}.function_call.args' (type.googleapis.com/google.protobuf.Struct)")
    response = part.get("functionResponse")
    if response is not None:
        if not isinstance(response, Mapping) or not isinstance(response.get("name"), str):
            raise fail(f"* GenerateContentRequest.{where}.function_response.name: Name cannot be empty.\n")
        if not isinstance(response.get("response"), Mapping):
            raise fail(
                f"Invalid value at '{where}.function_response.response' (type.googleapis.com/google.protobuf.Struct)"
            )


def _check_inline(inline: Any, where: str) -> None:
    if not isinstance(inline, Mapping):
        raise fail(f"Invalid value at '{where}' (type.googleapis.com/google.ai.generativelanguage.v1beta.Blob)")
    reject_unknown(inline, frozenset({"mimeType", "data", "displayName"}), where)
    mime = inline.get("mimeType")
    if not isinstance(mime, str) or "/" not in mime:
        raise fail(f"* GenerateContentRequest.{where}.mime_type: mime_type must be set.\n")
    data = inline.get("data")
    if not isinstance(data, str) or not data or not _is_base64(data):
        raise fail(f"Invalid value at '{where}.data' (TYPE_BYTES), Base64 decoding failed")


def _is_base64(value: Any) -> bool:
    """Proto JSON ``bytes``: standard or URL-safe base64, padding optional."""
    if not isinstance(value, str):
        return False
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _check_turns(contents: list[Any], model: str) -> None:
    """Function-call turns follow a user turn; function responses follow a call turn, one per call."""
    previous: Mapping[str, Any] | None = None
    for content in contents:
        parts = content["parts"]
        calls = [p for p in parts if "functionCall" in p]
        responses = [p for p in parts if "functionResponse" in p]
        role = content.get("role", "user")
        if calls and role != "model":
            raise fail("Please ensure that function call turns are model turns.")
        if responses and role != "user":
            raise fail("Please ensure that function response turns are user turns.")
        if calls and previous is not None and previous.get("role") == "model":
            raise fail(
                "Please ensure that function call turn comes immediately after a user turn or after a function "
                "response turn."
            )
        if responses:
            previous_calls = [p for p in (previous or {}).get("parts", []) if "functionCall" in p]
            if not previous_calls:
                raise fail("Please ensure that function response turn comes immediately after a function call turn.")
            if len(responses) != len(previous_calls):
                raise fail(
                    "Please ensure that the number of function response parts is equal to the number of function "
                    "call parts of the function call turn."
                )
        previous = content
    if model.removeprefix("models/").startswith("gemini-3"):
        _check_signatures(contents)


def _check_signatures(contents: list[Any]) -> None:
    """Gemini 3: in the current turn (since the last user text), each call step needs a thought signature."""
    start = 0
    for index, content in enumerate(contents):
        if content.get("role", "user") == "user" and any("text" in p for p in content["parts"]):
            start = index
    for content in contents[start:]:
        calls = [p for p in content["parts"] if "functionCall" in p]
        if calls and "thoughtSignature" not in calls[0]:
            name = calls[0]["functionCall"]["name"]
            raise fail(
                "Function call is missing a thought_signature in functionCall parts. This is required for tools "
                "to work correctly, and missing thought_signature may lead to degraded model performance. "
                f"Additional data, function call `default_api:{name}` , position 1. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )


def _check_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise fail("Invalid value at 'tools' (type.googleapis.com/google.ai.generativelanguage.v1beta.Tool)")
    names: list[str] = []
    for t, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise fail(f"Invalid value at 'tools[{t}]'")
        reject_unknown(tool, TOOL_FIELDS, f"tools[{t}]")
        for d, declaration in enumerate(tool.get("functionDeclarations") or []):
            where = f"tools[{t}].function_declarations[{d}]"
            reject_unknown(declaration, DECLARATION_FIELDS, where)
            name = declaration.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.fullmatch(name):
                raise fail(f"* GenerateContentRequest.{where}.name: {_BAD_NAME}\n")
            if "parameters" in declaration:
                parameters = declaration["parameters"]
                if not isinstance(parameters, Mapping) or str(parameters.get("type", "")).upper() != "OBJECT":
                    raise fail(f"* GenerateContentRequest.{where}.parameters.type: must be OBJECT\n")
                _schema(parameters, f"{where}.parameters")
            names.append(name)
    return names


def _schema(schema: Any, where: str) -> None:
    try:
        check_schema(schema, where)
    except SchemaError as exc:
        if exc.unknown is not None:
            raise Invalid(errors.unknown_field(exc.unknown, exc.where)) from None
        raise fail(f"* GenerateContentRequest.{exc.where}: {exc}\n") from None


def _check_tool_config(config: Any, declared: list[str]) -> None:
    if config is None:
        return
    reject_unknown(config, frozenset({"functionCallingConfig", "retrievalConfig"}), "tool_config")
    calling = config.get("functionCallingConfig")
    if calling is None:
        return
    reject_unknown(calling, frozenset({"mode", "allowedFunctionNames"}), "tool_config.function_calling_config")
    mode = str(calling.get("mode", "AUTO")).upper()
    if mode not in _MODES:
        raise fail(f"Invalid value at 'tool_config.function_calling_config.mode', \"{calling.get('mode')}\"")
    if not declared:
        raise fail("* GenerateContentRequest.tool_config.function_calling_config: requires function declarations\n")
    allowed = calling.get("allowedFunctionNames")
    if allowed is not None:
        if mode not in ("ANY", "VALIDATED"):
            raise fail(
                "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
                "only allowed when function calling mode is ANY\n"
            )
        for name in allowed:
            if name not in declared:
                raise fail(f"* GenerateContentRequest.tool_config: function {name!r} is not declared\n")


def _check_generation(config: Any) -> None:
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise fail("Invalid value at 'generation_config'")
    reject_unknown(config, GENERATION_FIELDS, "generation_config")
    for name in ("temperature", "topP", "presencePenalty", "frequencyPenalty"):
        value = config.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise fail(f"Invalid value at 'generation_config.{name}' (TYPE_FLOAT)")
    for name in ("candidateCount", "maxOutputTokens", "topK", "seed"):
        value = config.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise fail(f"Invalid value at 'generation_config.{name}' (TYPE_INT32)")
    stop = config.get("stopSequences")
    if stop is not None and (not isinstance(stop, list) or len(stop) > 5 or not all(isinstance(s, str) for s in stop)):
        raise fail("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences\n")
    has_schema = config.get("responseSchema") is not None or config.get("responseJsonSchema") is not None
    if has_schema and config.get("responseMimeType") not in _JSON_MIME:
        raise fail(
            "* GenerateContentRequest.generation_config.response_mime_type: must be application/json or "
            "text/x.enum when response_schema is set\n"
        )
    if config.get("responseSchema") is not None:
        _schema(config["responseSchema"], "generation_config.response_schema")
    thinking = config.get("thinkingConfig")
    if thinking is not None:
        reject_unknown(thinking, frozenset({"thinkingBudget", "includeThoughts", "thinkingLevel"}), "thinking_config")
