"""Request validation of the fake Bedrock, as strict as the real service (messages are Bedrock's own wording).

1. Shape: botocore's ``ParamValidator`` against the operation's input shape from ``service-2.json`` (types,
   required members, unions, minima; unknown members are rejected too, which is stricter than AWS and catches
   translation typos), plus a walk for the maxima and enums the validator skips.
2. Conversation rules of Converse (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html):
   first turn from the user, roles alternating, no empty content or blank text, ``toolConfig`` present whenever
   toolUse/toolResult blocks are, every toolUse answered by a toolResult in the next user turn, images as valid
   base64, Claude's thinking rules.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, Shape, StructureShape
from botocore.session import get_session
from botocore.validate import ParamValidator


class BedrockModel:
    """The bedrock-runtime service model, loaded once per fake."""

    def __init__(self) -> None:
        self._service = get_session().get_service_model("bedrock-runtime")
        self._validator = ParamValidator()

    def operation(self, name: str) -> OperationModel:
        return self._service.operation_model(name)

    def shape_errors(self, operation: str, params: Mapping[str, Any]) -> str | None:
        """A validation message for ``params`` (the parsed JSON body plus the URI members), None when valid."""
        shape = self.operation(operation).input_shape
        if shape is None:
            return None
        report = self._validator.validate(dict(params), shape)
        if report.has_errors():
            return str(report.generate_report())
        problems: list[str] = []
        _walk(params, shape, "", problems)
        if problems:
            return f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: " + "; ".join(
                problems
            )
        return None


def _walk(value: Any, shape: Shape, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    kind = shape.type_name
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        if shape.serialization.get("document") or shape.metadata.get("document"):
            return
        for name, member in shape.members.items():
            if name in value:
                _walk(value[name], member, f"{path}.{name}" if path else name, problems)
        return
    if kind == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have length less than or "
                f"equal to {meta['max']}"
            )
        for position, item in enumerate(value):
            _walk(item, shape.member, f"{path}.{position + 1}", problems)  # type: ignore[attr-defined]
        return
    if kind == "map" and isinstance(value, Mapping):
        for key, item in value.items():
            _walk(item, shape.value, f"{path}.{key}", problems)  # type: ignore[attr-defined]
        return
    if kind == "string" and isinstance(value, str):
        enum = shape.enum  # type: ignore[attr-defined]
        if enum and value not in enum:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum "
                f"value set: [{', '.join(enum)}]"
            )
        elif "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have length less than or "
                f"equal to {meta['max']}"
            )
        return
    numeric = kind in ("integer", "long", "float", "double") and isinstance(value, int | float)
    if numeric and "max" in meta and value > meta["max"]:
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value less "
            f"than or equal to {meta['max']}"
        )


# ------------------------------------------------------------------------------------ conversation rules

START_WITH_USER = (
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
)


def conversation_error(body: Mapping[str, Any], model_id: str) -> str | None:
    """The ValidationException message Bedrock would send for this Converse body, None when it is fine."""
    messages = body.get("messages") or []
    if not messages:
        return START_WITH_USER
    for position, message in enumerate(messages):
        problem = _message_error(messages, position, message, body)
        if problem is not None:
            return problem
    for position, block in enumerate(body.get("system") or []):
        if "text" in block and not block["text"].strip():
            return f"The text field in the SystemContentBlock object at system.{position} is blank."
    return _tool_config_error(body) or _thinking_error(body, model_id)


def _message_error(
    messages: list[Any], position: int, message: Mapping[str, Any], body: Mapping[str, Any]
) -> str | None:
    role = message["role"]
    if position == 0 and role != "user":
        return START_WITH_USER
    if role == "system":
        return f"The role at messages.{position} is not valid: use the system field for system prompts."
    if position and messages[position - 1]["role"] == role:
        return (
            "A conversation must alternate between user and assistant roles. Make sure the conversation "
            "alternates between user and assistant roles and try again."
        )
    content = message["content"]
    if not content:
        return (
            f"The content field in the Message object at messages.{position} is empty. Add a ContentBlock object "
            "to the content field and try again."
        )
    for index, block in enumerate(content):
        where = f"messages.{position}.content.{index}"
        if "text" in block and not block["text"].strip():
            return (
                f"The text field in the ContentBlock object at {where} is blank. Add text to the text field, "
                "and try again."
            )
        if ("toolUse" in block or "toolResult" in block) and "toolConfig" not in body:
            return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        image = block.get("image")
        if image is not None and not _valid_base64(image["source"].get("bytes")):
            return f"The image bytes at {where} are not valid base64."
    return _tool_results_error(messages, position)


def _tool_results_error(messages: list[Any], position: int) -> str | None:
    """Each toolUse of an assistant turn must be answered by a toolResult in the next turn, and only those."""
    message = messages[position]
    results = [b["toolResult"]["toolUseId"] for b in message["content"] if "toolResult" in b]
    previous = messages[position - 1] if position else None
    uses = [b["toolUse"]["toolUseId"] for b in previous["content"] if "toolUse" in b] if previous else []
    if message["role"] == "user" and results and len(results) > len(uses):
        return (
            f"The number of toolResult blocks at messages.{position}.content exceeds the number of toolUse "
            "blocks of previous turn."
        )
    if message["role"] == "user" and uses:
        missing = [u for u in uses if u not in results]
        if missing:
            return (
                f"Expected toolResult blocks at messages.{position}.content for the following Ids: {', '.join(missing)}"
            )
    if message["role"] == "user" and set(results) - set(uses):
        return (
            f"The toolResult blocks at messages.{position}.content do not match the toolUse ids of the previous turn."
        )
    return None


def _tool_config_error(body: Mapping[str, Any]) -> str | None:
    config = body.get("toolConfig")
    if config is None:
        return None
    names = [t["toolSpec"]["name"] for t in config["tools"] if "toolSpec" in t]
    if len(set(names)) != len(names):
        return "The toolConfig field contains duplicate tool names."
    chosen = (config.get("toolChoice") or {}).get("tool")
    if chosen is not None and chosen["name"] not in names:
        return f"The tool {chosen['name']} in toolConfig.toolChoice is not defined in toolConfig.tools."
    for spec in (t["toolSpec"] for t in config["tools"] if "toolSpec" in t):
        schema = spec["inputSchema"].get("json")
        if not isinstance(schema, Mapping) or schema.get("type") != "object":
            return f"The input schema of tool {spec['name']} must be a JSON schema of type object."
    return None


def _thinking_error(body: Mapping[str, Any], model_id: str) -> str | None:
    extra = body.get("additionalModelRequestFields")
    thinking = extra.get("thinking") if isinstance(extra, Mapping) else None
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled" or "claude" not in model_id:
        return None
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < 1024:
        return "thinking.budget_tokens: Input should be greater than or equal to 1024"
    inference = body.get("inferenceConfig") or {}
    if inference.get("maxTokens", 4096) <= budget:
        return "`max_tokens` must be greater than `thinking.budget_tokens`."
    if "temperature" in inference and inference["temperature"] != 1:
        return "`temperature` may only be set to 1 when thinking is enabled."
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if "any" in choice or "tool" in choice:
        return "Thinking may not be enabled when tool_choice forces tool use."
    return None


def _valid_base64(data: Any) -> bool:
    if not isinstance(data, str) or not data:
        return False
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
