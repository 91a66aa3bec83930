"""Gemini ``GenerateContentResponse`` → OpenAI ``chat.completion`` (plus the helpers the stream shares).

Reference: https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse. Parts map to the message:
``text`` → ``content``, ``thought: true`` text → ``reasoning_content``, ``functionCall`` → ``tool_calls`` (with a
stable ``call_…`` id when Gemini gives none, and the part's ``thoughtSignature`` as
``extra_content.google.thought_signature``). ``finishReason`` maps to OpenAI's (``STOP`` with calls → tool_calls);
a prompt blocked by ``promptFeedback.blockReason`` is an empty ``content_filter`` answer. Usage: ``prompt_tokens``
= promptTokenCount (which includes cachedContentTokenCount) + toolUsePromptTokenCount, ``completion_tokens`` =
candidatesTokenCount + thoughtsTokenCount.

Thought signatures (https://ai.google.dev/gemini-api/docs/thought-signatures) may sit on any part: a thought, a
``functionCall`` or a text part. Clients of other dialects keep signed reasoning as Anthropic-shaped
``thinking_blocks`` (an Anthropic client can carry nothing else back), so a candidate with signatures also gets
``thinking_blocks``: its thought text in runs, each closed by the next signature, the signature marked with the
kind of part that carried it (``gemini:thought:…``, ``gemini:call:…``, ``gemini:text:…``; see
:func:`mark_signature`). The mark tells ``messages`` where to put the signature back and keeps other providers'
signatures away from Gemini (and Gemini's away from them). Thought text after the last signature is an unsigned
block (empty signature), so the blocks always hold all the reasoning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import UpstreamStatusError
from wardgate.providers import openai_format as oa
from wardgate.providers.gemini.errors import error_from_object
from wardgate.providers.translate import TranslationContext

JSONDict = dict[str, Any]

# https://ai.google.dev/api/generate-content#FinishReason
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "MODEL_ARMOR": "content_filter",
}


_FAILED = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL"})
SIGNATURE_MARK = "gemini:"
SIGNED_PARTS = frozenset({"thought", "call", "text"})


def mark_signature(kind: str, signature: str) -> str:
    """A Gemini thought signature as a thinking-block signature: ``gemini:<kind>:<signature>``, where ``kind``
    says which part carried it (``thought``, ``call`` or ``text``)."""
    return f"{SIGNATURE_MARK}{kind}:{signature}"


def read_signature(value: Any) -> tuple[str, str] | None:
    """``(kind, signature)`` of a signature made by :func:`mark_signature`; None for any other."""
    if not isinstance(value, str) or not value.startswith(SIGNATURE_MARK):
        return None
    kind, sep, signature = value[len(SIGNATURE_MARK) :].partition(":")
    if not sep or kind not in SIGNED_PARTS or not signature:
        return None
    return kind, signature


def part_signature(part: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(kind, signature)`` when the part carries a thought signature."""
    signature = part.get("thoughtSignature")
    if not isinstance(signature, str) or not signature:
        return None
    if part.get("thought") is True:
        return "thought", signature
    return ("call" if isinstance(part.get("functionCall"), Mapping) else "text"), signature


def signed_block(thinking: str, kind: str, signature: str) -> JSONDict:
    """The ``thinking_blocks`` entry for reasoning text closed by a signature."""
    return {"type": "thinking", "thinking": thinking, "signature": mark_signature(kind, signature)}


def thinking_blocks(parts: list[Any]) -> list[JSONDict]:
    """A candidate's thought text in runs closed by signatures (empty when nothing is signed)."""
    blocks: list[JSONDict] = []
    run = ""
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        if part.get("thought") is True and isinstance(part.get("text"), str):
            run += part["text"]
        signed = part_signature(part)
        if signed is not None:
            blocks.append(signed_block(run, *signed))
            run = ""
    if blocks and run:
        blocks.append({"type": "thinking", "thinking": run, "signature": ""})
    return blocks


def finish_reason(raw: Any, has_calls: bool) -> str:
    """OpenAI's finish reason for Gemini's; unknown or odd endings (OTHER, LANGUAGE …) → stop."""
    mapped = _FINISH.get(raw, "stop") if isinstance(raw, str) else "stop"
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def check_usable(raw_finish: Any, has_output: bool) -> None:
    """A malformed function call with nothing else is a failed generation, not an empty answer: raise a
    (retryable) upstream error instead of handing the client a silent, empty "stop"."""
    if raw_finish in _FAILED and not has_output:
        raise UpstreamStatusError(
            "the model produced an invalid function call; try again", code=str(raw_finish).lower()
        )


def usage_from(meta: Any) -> JSONDict:
    meta = meta if isinstance(meta, Mapping) else {}

    def count(name: str) -> int:
        value = meta.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    thoughts = count("thoughtsTokenCount")
    return oa.usage(
        count("promptTokenCount") + count("toolUsePromptTokenCount"),
        count("candidatesTokenCount") + thoughts,
        cached_tokens=count("cachedContentTokenCount"),
        reasoning_tokens=thoughts,
    )


def tool_call_id(ctx: TranslationContext, candidate: int, position: int, given: Any) -> str:
    """Gemini's own call id when it sends one, else a stable id derived from the response id."""
    if isinstance(given, str) and given:
        return given
    digest = hashlib.sha256(f"{ctx.response_id}:{candidate}:{position}".encode()).hexdigest()
    return "call_" + digest[:24]


def function_call_dict(
    ctx: TranslationContext, part: Mapping[str, Any], candidate: int, position: int
) -> JSONDict | None:
    """The OpenAI tool call for a ``functionCall`` part (None if the part is not one)."""
    call = part.get("functionCall")
    if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
        return None
    args = call.get("args")
    arguments = orjson.dumps(args if isinstance(args, Mapping) else {}).decode()
    result = oa.tool_call(tool_call_id(ctx, candidate, position, call.get("id")), call["name"], arguments)
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        result["extra_content"] = {"google": {"thought_signature": signature}}
    return result


def candidate_index(candidate: Mapping[str, Any], position: int) -> int:
    index = candidate.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) and index >= 0 else position


def parse_body(body: bytes) -> JSONDict:
    """Decode a response body; an ``error`` object in a 200 answer is mapped like an error status."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamStatusError("the provider sent a response that is not valid JSON") from None
    if isinstance(parsed, list) and len(parsed) == 1:
        parsed = parsed[0]
    if not isinstance(parsed, dict):
        raise UpstreamStatusError("the provider sent a response of an unexpected shape")
    if isinstance(parsed.get("error"), Mapping):
        raise error_from_object(0, parsed["error"], {})
    return parsed


def chat_response(body: bytes, ctx: TranslationContext) -> JSONDict:
    parsed = parse_body(body)
    candidates = parsed.get("candidates")
    choices: list[JSONDict] = []
    if isinstance(candidates, list):
        for position, candidate in enumerate(candidates):
            if isinstance(candidate, Mapping):
                choices.append(_choice(ctx, candidate, candidate_index(candidate, position)))
    if not choices:
        feedback = parsed.get("promptFeedback")
        blocked = isinstance(feedback, Mapping) and feedback.get("blockReason")
        if not blocked:
            raise UpstreamStatusError("the provider sent a response without candidates")
        choices.append({"index": 0, "message": oa.message(""), "finish_reason": "content_filter", "logprobs": None})
    choices.sort(key=lambda choice: int(choice["index"]))
    return oa.completion(ctx, choices, usage_from(parsed.get("usageMetadata")))


def _choice(ctx: TranslationContext, candidate: Mapping[str, Any], index: int) -> JSONDict:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[JSONDict] = []
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    parts = parts if isinstance(parts, list) else []
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        call = function_call_dict(ctx, part, index, len(calls))
        if call is not None:
            calls.append(call)
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") is True else texts).append(part["text"])
    check_usable(candidate.get("finishReason"), bool(texts or calls))
    text = "".join(texts) if texts else (None if calls else "")
    message = oa.message(
        text, calls or None, reasoning="".join(thoughts) or None, thinking_blocks=thinking_blocks(parts) or None
    )
    reason = finish_reason(candidate.get("finishReason"), bool(calls))
    return {"index": index, "message": message, "finish_reason": reason, "logprobs": None}
