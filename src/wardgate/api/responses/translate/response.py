"""``chat_to_response``: a ``chat.completion`` → a Responses ``Response`` object, plus the builders the stream
shares (output items, usage, status and the echoed request parameters).

* ``output``, in OpenAI's order: a ``reasoning`` item when the message has reasoning (``reasoning_content``, or
  ``reasoning`` as vLLM names it) as ``content: [{"type": "reasoning_text"}]`` with an empty ``summary`` (chat
  providers write no summaries), and — when the message carries Anthropic's signed ``thinking_blocks`` — those
  blocks packed into ``encrypted_content`` (``common.encode_thinking``) so a continuation can send them back;
  then a ``message`` item (``output_text`` with ``annotations`` from chat ``url_citation`` annotations and
  ``logprobs`` from the choice's logprobs, and/or a ``refusal`` part) when there is text; then one
  ``function_call`` item per tool call (``call_id`` = the chat tool call id).
* ``status``: ``finish_reason`` length → ``incomplete`` with ``incomplete_details.reason: max_output_tokens``,
  content_filter → ``incomplete`` / ``content_filter`` (the last output item is then ``incomplete`` too);
  anything else → ``completed``.
* ``usage``: ``input_tokens`` = prompt_tokens (``input_tokens_details.cached_tokens`` and ``cache_write_tokens``
  from ``prompt_tokens_details``), ``output_tokens`` = completion_tokens (``output_tokens_details.reasoning_tokens``),
  ``total_tokens``.
* The request's parameters are echoed as OpenAI does (``instructions``, ``tools`` as sent, ``tool_choice`` "auto",
  ``parallel_tool_calls`` true, ``text`` ``{"format": {"type": "text"}}``, ``reasoning``, ``metadata`` {},
  ``store`` true, ``truncation`` "disabled" … by default); ``model`` is the name the client asked for.
  ``output_text`` is left to the SDKs, which compute it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.api.responses.translate.common import JSONDict, count, encode_thinking, new_id, present
from wardgate.core.errors import UpstreamStatusError

INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}
_CITATION_KEYS = ("start_index", "end_index", "title", "url")


def chat_to_response(
    completion: Mapping[str, Any], request: Mapping[str, Any], *, response_id: str, created_at: int, model: str
) -> dict[str, Any]:
    """The Response for a non-streamed ``chat.completion`` (``model``: the name the client asked for)."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, Mapping) or not isinstance(choice.get("message"), Mapping):
        raise UpstreamStatusError("the provider sent a completion without a message")
    message: Mapping[str, Any] = choice["message"]
    output: list[JSONDict] = []
    reasoning, blocks = reasoning_text(message), message.get("thinking_blocks")
    if reasoning or (isinstance(blocks, list) and blocks):
        output.append(reasoning_item(new_id("rs"), reasoning, blocks, "completed"))
    parts: list[JSONDict] = []
    text = content_text(message.get("content"))
    if text:
        parts.append(text_part(text, text_logprobs(choice.get("logprobs")), url_citations(message.get("annotations"))))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    if parts:
        output.append(message_item(new_id("msg"), parts, "completed"))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        name, arguments = _call(call)
        output.append(function_call_item(new_id("fc"), call_id(call.get("id")), name, arguments, "completed"))
    status, details = finish_status(choice.get("finish_reason"))
    if status == "incomplete" and output:
        output[-1]["status"] = "incomplete"
    response = base_response(request, response_id=response_id, created_at=created_at, model=model)
    response.update(status=status, incomplete_details=details, output=output, usage=response_usage(completion))
    if isinstance(completion.get("service_tier"), str):
        response["service_tier"] = completion["service_tier"]
    return response


def base_response(request: Mapping[str, Any], *, response_id: str, created_at: int, model: str) -> JSONDict:
    """The Response with the request's parameters echoed: ``in_progress``, no output, no usage yet."""
    fields = present(request)
    reasoning = _object(fields.get("reasoning"))
    text = _object(fields.get("text"))
    echoed_text: JSONDict = {"format": text.get("format") or {"type": "text"}}
    if text.get("verbosity") is not None:
        echoed_text["verbosity"] = text["verbosity"]
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": fields.get("instructions"),
        "max_output_tokens": fields.get("max_output_tokens"),
        "max_tool_calls": fields.get("max_tool_calls"),
        "model": model,
        "output": [],
        "parallel_tool_calls": fields.get("parallel_tool_calls", True),
        "previous_response_id": fields.get("previous_response_id"),
        "prompt_cache_key": fields.get("prompt_cache_key"),
        "reasoning": {
            "effort": reasoning.get("effort"),
            "summary": reasoning.get("summary") or reasoning.get("generate_summary"),
        },
        "safety_identifier": fields.get("safety_identifier"),
        "service_tier": fields.get("service_tier"),
        "store": fields.get("store", True),
        "temperature": fields.get("temperature"),
        "text": echoed_text,
        "tool_choice": fields.get("tool_choice", "auto"),
        "tools": list(fields.get("tools") or []),
        "top_logprobs": fields.get("top_logprobs"),
        "top_p": fields.get("top_p"),
        "truncation": fields.get("truncation", "disabled"),
        "usage": None,
        "user": fields.get("user"),
        "metadata": dict(fields.get("metadata") or {}),
    }


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def finish_status(finish_reason: Any) -> tuple[str, JSONDict | None]:
    """``(status, incomplete_details)`` for a chat ``finish_reason``."""
    reason = INCOMPLETE_REASONS.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_usage(completion: Mapping[str, Any]) -> JSONDict | None:
    """The Responses usage for a chat completion's (or usage chunk's) ``usage``; None when it has none."""
    usage = completion.get("usage")
    if not isinstance(usage, Mapping):
        return None
    prompt, output = count(usage.get("prompt_tokens")), count(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    output_details = usage.get("completion_tokens_details")
    output_details = output_details if isinstance(output_details, Mapping) else {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": count(details.get("cached_tokens")),
            "cache_write_tokens": count(details.get("cache_creation_tokens")),
        },
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": count(output_details.get("reasoning_tokens"))},
        "total_tokens": count(usage.get("total_tokens")) or prompt + output,
    }


# -------------------------------------------------------------------------------------------- output items


def reasoning_item(item_id: str, text: str, blocks: Any, status: str) -> JSONDict:
    item: JSONDict = {
        "id": item_id,
        "type": "reasoning",
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}] if text else [],
        "status": status,
    }
    if isinstance(blocks, list) and blocks:
        item["encrypted_content"] = encode_thinking(blocks)
    return item


def message_item(item_id: str, parts: list[JSONDict], status: str) -> JSONDict:
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": parts}


def text_part(text: str, logprobs: list[JSONDict] | None = None, notes: list[JSONDict] | None = None) -> JSONDict:
    return {"type": "output_text", "text": text, "annotations": notes or [], "logprobs": logprobs or []}


def function_call_item(item_id: str, call: str, name: str, arguments: str, status: str) -> JSONDict:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call,
        "name": name,
    }


def call_id(value: Any) -> str:
    """The chat tool call's id, or a fresh ``call_`` id when the provider sent none."""
    return value if isinstance(value, str) and value else "call_" + secrets.token_hex(12)


def reasoning_text(message: Mapping[str, Any]) -> str:
    """Reasoning text of a message or delta: ``reasoning_content``, else ``reasoning``."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def arguments_text(arguments: Any) -> str:
    """Tool call arguments as a string (a provider may send an object)."""
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, Mapping):
        return orjson.dumps(arguments).decode()
    return ""


def text_logprobs(logprobs: Any) -> list[JSONDict]:
    """Responses ``logprobs`` for a chat choice's (or chunk choice's) ``logprobs.content``."""
    content = logprobs.get("content") if isinstance(logprobs, Mapping) else None
    return [_logprob(entry, top=True) for entry in content if isinstance(entry, Mapping)] if content else []


def _logprob(entry: Mapping[str, Any], *, top: bool) -> JSONDict:
    out: JSONDict = {
        "token": str(entry.get("token") or ""),
        "bytes": list(entry.get("bytes") or []),
        "logprob": float(entry.get("logprob") or 0.0),
    }
    if top:
        tops = entry.get("top_logprobs")
        out["top_logprobs"] = [_logprob(t, top=False) for t in tops if isinstance(t, Mapping)] if tops else []
    return out


def url_citations(value: Any) -> list[JSONDict]:
    """Responses annotations for chat ``url_citation`` annotations."""
    out = []
    for note in value if isinstance(value, list) else []:
        cite = note.get("url_citation") if isinstance(note, Mapping) else None
        if isinstance(cite, Mapping) and note.get("type") == "url_citation":
            out.append(
                {"type": "url_citation", **{k: cite.get(k) for k in ("start_index", "end_index", "title", "url")}}
            )
    return out


def _call(call: Any) -> tuple[str, str]:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str) or not function["name"]:
        raise UpstreamStatusError("the provider returned a tool call without a function name")
    return function["name"], arguments_text(function.get("arguments"))
