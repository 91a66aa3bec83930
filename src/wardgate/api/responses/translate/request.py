"""``responses_to_chat_request``: a Responses create body → the canonical chat completions body.

The caller has already expanded ``previous_response_id`` (``input`` holds the whole conversation, output items of
earlier responses included); the field itself is accepted and not read. Mappings
(https://platform.openai.com/docs/api-reference/responses/create):

* ``instructions`` → a leading ``system`` message; ``input`` → ``messages`` (see ``messages``).
* ``tools``: function tools → chat function tools (``name``, ``description``, ``parameters``, ``strict``). Every
  other tool type (``web_search``, ``file_search``, ``computer_use_preview``, ``code_interpreter``, ``mcp``,
  ``image_generation``, ``custom``, ``shell``, …) raises, naming it: a chat-only provider cannot run it.
* ``tool_choice``: ``auto`` / ``none`` / ``required`` as they are; ``{"type": "function", "name"}`` → chat's named
  function; ``allowed_tools`` (function tools only) → ``tools`` narrowed to the allowed ones with its ``mode`` as
  the choice. Without tools, ``tool_choice`` and ``parallel_tool_calls`` ask for nothing and are left out (chat
  refuses them there); ``required`` without tools raises.
* ``max_output_tokens`` → ``max_completion_tokens``; ``temperature``, ``top_p``, ``user``, ``safety_identifier``
  and ``service_tier`` pass as they are. ``prompt_cache_key`` and ``prompt_cache_retention`` are caching hints for
  OpenAI's own cache: the translated body only ever goes to other providers, which have no such cache and whose
  adapters would refuse them in ``strict`` mode (clients such as Codex send a ``prompt_cache_key`` with every
  request), so they are validated and dropped.
* ``text.format``: ``text`` → nothing, ``json_object`` → ``response_format: json_object``, ``json_schema``
  (``name``, ``schema``, ``strict``, ``description``) → chat ``response_format: json_schema``;
  ``text.verbosity`` → ``verbosity`` (``medium``, OpenAI's default, asks for nothing and is left out).
* ``reasoning.effort`` → ``reasoning_effort``; ``reasoning.summary`` (and the older ``generate_summary``) ask for
  summaries, which chat providers do not write: dropped (the reasoning text itself comes back instead, see
  ``response``).
* ``include``: ``message.output_text.logprobs`` → ``logprobs: true`` (with ``top_logprobs`` when given); the other
  includable values only add data OpenAI's built-in tools produce and are dropped; ``top_logprobs`` without it
  shows nothing and is dropped.
* ``stream`` → ``stream`` plus ``stream_options: {"include_usage": true}`` (the final event carries usage).

``DROPPED`` lists the fields that do not change the answer and are left out; ``NEUTRAL_VALUES`` the values of
refused fields that ask for nothing. Every other field raises ``InvalidRequestError`` naming it (``param`` = the
field): nothing that changes the answer is dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.api.responses.translate.common import (
    JSONDict,
    invalid_type,
    invalid_value,
    is_number,
    missing,
    present,
    require_object,
    require_str,
    unsupported,
)
from wardgate.api.responses.translate.items import input_items
from wardgate.api.responses.translate.messages import items_to_messages
from wardgate.api.responses.translate.tools import tools_and_choice
from wardgate.core.errors import InvalidRequestError

DROPPED = frozenset(
    {
        "metadata",  # echoed on the Response, never sent to the model
        "store",  # whether the gateway stores the Response: the caller's business
        "truncation",  # "auto" lets OpenAI cut the middle of an overlong context; chat providers refuse it instead
        "stream_options",  # only include_obfuscation (padding against side channels)
        "max_tool_calls",  # limits calls to built-in tools, which are refused anyway
        "prompt_cache_options",  # caching hints for OpenAI's cache (see above)
        "prompt_cache_key",
        "prompt_cache_retention",
        "previous_response_id",  # expanded into `input` by the caller
    }
)
"""Fields that do not change the answer: accepted, validated where cheap, and left out of the chat body."""
PASSED = ("user", "safety_identifier")
"""String fields chat has under the same name."""
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {"background": (False,), "context_management": ([],)}
REFUSED = {
    "conversation": "The Conversations API",
    "prompt": "A stored prompt template",
    "background": "Background mode",
    "background_options": "Background mode",
    "context_management": "Context management (compaction)",
    "moderation": "Moderated responses",
    "image": "Image context settings",
    "access_programs": "Access programs",
}
"""Responses features a chat-only provider cannot serve (only an OpenAI deployment can)."""
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
SERVICE_TIERS = ("auto", "default", "flex", "scale", "priority")
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)
LOGPROBS_INCLUDE = "message.output_text.logprobs"
_SUMMARIES = ("auto", "concise", "detailed")


def responses_to_chat_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical chat body for a Responses create body (never mutated)."""
    fields = present(body)
    _check_fields(fields)
    model = fields.get("model")
    if model is None:
        raise missing("model")
    if not isinstance(model, str) or not model:
        raise invalid_type("model", "a non-empty string", model)
    if "input" not in fields:
        raise missing("input")
    messages = items_to_messages(input_items(fields["input"]))
    instructions = fields.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise invalid_type("instructions", "a string", instructions)
        messages.insert(0, {"role": "system", "content": instructions})
    if not messages:
        raise InvalidRequestError("Invalid 'input': the conversation has no messages.", param="input")
    out: JSONDict = {"model": model, "messages": messages}
    tools_and_choice(fields, out)
    _sampling(fields, out)
    _text(fields.get("text"), out)
    _reasoning(fields.get("reasoning"), out)
    _include(fields, out)
    _dropped(fields)
    stream = fields.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid_type("stream", "a boolean", stream)
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


_HANDLED = frozenset(
    {"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens"}
    | {"temperature", "top_p", "text", "reasoning", "include", "top_logprobs", "stream", "service_tier"}
    | set(PASSED)
)


def _check_fields(fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        if name in _HANDLED or name in DROPPED or value in NEUTRAL_VALUES.get(name, ()):
            continue
        if name in REFUSED:
            raise unsupported(name, f"'{name}' ({REFUSED[name]})")
        raise InvalidRequestError(f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")


def _sampling(fields: Mapping[str, Any], out: JSONDict) -> None:
    limit = fields.get("max_output_tokens")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise invalid_type("max_output_tokens", "a positive integer", limit)
        out["max_completion_tokens"] = limit
    for name in ("temperature", "top_p"):
        if name in fields:
            if not is_number(fields[name]):
                raise invalid_type(name, "a number", fields[name])
            out[name] = fields[name]
    for name in PASSED:
        if name in fields:
            if not isinstance(fields[name], str):
                raise invalid_type(name, "a string", fields[name])
            out[name] = fields[name]
    tier = fields.get("service_tier")
    if tier is not None:
        if tier not in SERVICE_TIERS:
            raise invalid_value("service_tier", tier, SERVICE_TIERS)
        out["service_tier"] = tier


def _text(value: Any, out: JSONDict) -> None:
    if value is None:
        return
    text = present(require_object(value, "text"))
    for key in text:
        if key not in ("format", "verbosity"):
            raise InvalidRequestError(f"Unknown parameter: 'text.{key}'.", param=f"text.{key}")
    verbosity = text.get("verbosity")
    if verbosity is not None:
        if verbosity not in ("low", "medium", "high"):
            raise invalid_value("text.verbosity", verbosity, ("low", "medium", "high"))
        if verbosity != "medium":
            out["verbosity"] = verbosity
    if "format" not in text:
        return
    fmt = require_object(text["format"], "text.format")
    kind = fmt.get("type")
    if kind == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        name = require_str(fmt, "name", "text.format")
        schema = fmt.get("schema")
        if schema is None:
            raise missing("text.format.schema")
        schema_obj: JSONDict = {"name": name, "schema": dict(require_object(schema, "text.format.schema"))}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                schema_obj[key] = fmt[key]
        out["response_format"] = {"type": "json_schema", "json_schema": schema_obj}
    elif kind != "text":
        raise invalid_value("text.format.type", kind, ("text", "json_object", "json_schema"))


def _reasoning(value: Any, out: JSONDict) -> None:
    if value is None:
        return
    reasoning = present(require_object(value, "reasoning"))
    for key, item in reasoning.items():
        if key in ("summary", "generate_summary"):
            if item not in _SUMMARIES:
                raise invalid_value(f"reasoning.{key}", item, _SUMMARIES)
        elif key == "effort":
            if item not in EFFORTS:
                raise invalid_value("reasoning.effort", item, EFFORTS)
            out["reasoning_effort"] = item
        elif (key, item) not in (("mode", "standard"), ("context", "auto")):
            raise unsupported(f"reasoning.{key}", f"'reasoning.{key}: {item}'")


def _include(fields: Mapping[str, Any], out: JSONDict) -> None:
    include = fields.get("include", [])
    if not isinstance(include, list):
        raise invalid_type("include", "an array", include)
    for j, name in enumerate(include):
        if name not in INCLUDABLE:
            raise invalid_value(f"include[{j}]", name, INCLUDABLE)
    top = fields.get("top_logprobs")
    if top is not None and (not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20):
        raise invalid_type("top_logprobs", "an integer between 0 and 20", top)
    if LOGPROBS_INCLUDE in include:
        out["logprobs"] = True
        if top is not None:
            out["top_logprobs"] = top


def _dropped(fields: Mapping[str, Any]) -> None:
    """Validate the dropped fields enough that a malformed one still gets OpenAI's 400."""
    if "metadata" in fields:
        require_object(fields["metadata"], "metadata")
    if "store" in fields and not isinstance(fields["store"], bool):
        raise invalid_type("store", "a boolean", fields["store"])
    if "prompt_cache_key" in fields and not isinstance(fields["prompt_cache_key"], str):
        raise invalid_type("prompt_cache_key", "a string", fields["prompt_cache_key"])
    retention = fields.get("prompt_cache_retention")
    if retention is not None and retention not in ("in_memory", "24h"):
        raise invalid_value("prompt_cache_retention", retention, ("in_memory", "24h"))
    truncation = fields.get("truncation")
    if truncation is not None and truncation not in ("auto", "disabled"):
        raise invalid_value("truncation", truncation, ("auto", "disabled"))
