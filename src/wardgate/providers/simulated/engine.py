"""Engine of the simulated provider: plans a plausible answer to an OpenAI Chat Completions request body
and renders it as a ``chat.completion`` dict or as the ordered list of ``chat.completion.chunk`` dicts;
answers Embeddings requests (see :mod:`.embedding`).

Pure and deterministic: no I/O, no clock, no sleeping, no mutable globals. The seed is the request's
``seed`` when given, else a hash of its messages and model; choice ``i`` of ``n`` derives its own seed.
Latency, ids, timestamps and SSE framing belong to the caller (the provider adapter).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import zip_longest
from typing import Any

import orjson

from .embedding import embed
from .errors import SimulatedRequestError
from .prompt import (
    Attachments,
    choice_seed,
    last_role,
    last_user_turn,
    prompt_usage,
    request_seed,
    tool_results,
)
from .schema_fill import fill_schema
from .text import Topic, compose_sentences, estimate_tokens, extract_topic, split_tokens
from .tools import plan_tool_calls, summarize_tool_results

__all__ = [
    "SYSTEM_FINGERPRINT",
    "SimulatedReply",
    "SimulatedRequestError",
    "embed",
    "estimate_tokens",
    "plan_reply",
    "render_chunks",
    "render_completion",
]

SYSTEM_FINGERPRINT = "fp_wardgate_sim"
MIN_REPLY_TOKENS = 20
MAX_REPLY_TOKENS = 60
MAX_CHOICES = 128
_REASONING_RANGES: dict[str, tuple[int, int]] = {
    "none": (0, 0),
    "minimal": (0, 64),
    "low": (64, 256),
    "medium": (192, 768),
    "high": (512, 2048),
}


@dataclass(frozen=True, slots=True)
class SimulatedReply:
    """The planned answer, computed once and rendered either as a completion or as stream chunks.

    The fields describe choice 0; ``alternatives`` holds choices 1..n-1 when the request asks for ``n`` > 1.
    ``usage`` is the usage of the whole request (all choices); each alternative's ``usage`` is its own.
    """

    content: str | None
    tool_calls: list[dict[str, Any]]
    finish_reason: str
    usage: dict[str, Any]
    tokens: list[str]
    alternatives: tuple[SimulatedReply, ...] = ()

    @property
    def choices(self) -> tuple[SimulatedReply, ...]:
        """All choices in index order: this reply, then its alternatives."""
        return (self, *self.alternatives)


# -- planning -----------------------------------------------------------------------------------------------


def _choice_count(body: Mapping[str, Any]) -> int:
    n = body.get("n", 1)
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CHOICES:
        raise SimulatedRequestError(f"'n' must be an integer between 1 and {MAX_CHOICES}", param="n")
    return n


def _completion_limit(body: Mapping[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SimulatedRequestError(f"'{key}' must be a positive integer", param=key)
        return value
    return None


def _reasoning_tokens(body: Mapping[str, Any], rng: random.Random, limit: int | None) -> int:
    """Hidden reasoning for reasoning models (model name contains "reason", or ``reasoning_effort`` given);
    with a token limit, reasoning takes at most half of it."""
    effort = body.get("reasoning_effort")
    if effort is None and "reason" not in str(body.get("model") or "").lower():
        return 0
    low, high = _REASONING_RANGES.get(str(effort or "medium"), _REASONING_RANGES["medium"])
    tokens = rng.randint(low, high)
    return min(tokens, limit // 2) if limit is not None else tokens


def _stop_sequences(body: Mapping[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop] if stop else []
    return [s for s in stop if isinstance(s, str) and s] if isinstance(stop, list) else []


def _cut_at_stop(content: str, stops: Sequence[str]) -> str:
    cuts = [i for i in (content.find(s) for s in stops) if i >= 0]
    return content[: min(cuts)] if cuts else content


def _attachment_sentences(found: Attachments) -> list[str]:
    out: list[str] = []
    if found.images == 1:
        out.append("I can see the image you shared.")
    elif found.images > 1:
        out.append(f"I can see the {found.images} images you shared.")
    if found.audio:
        out.append("I listened to the audio you sent." if found.audio == 1 else "I listened to the audio clips.")
    if found.files:
        out.append("I have read the attached file." if found.files == 1 else "I have read the attached files.")
    return out


def _json_object(topic: Topic, rng: random.Random) -> dict[str, Any]:
    summary = compose_sentences(topic, rng, target_tokens=1, max_tokens=MAX_REPLY_TOKENS)
    return {
        "topic": topic.phrase or "general",
        "summary": summary,
        "keywords": list(topic.keywords[:5]),
        "confidence": round(rng.uniform(0.6, 0.99), 2),
    }


def _content(body: Mapping[str, Any], rng: random.Random, user_text: str, found: Attachments) -> str:
    """The full (untruncated) text content of one choice."""
    topic = extract_topic(user_text)
    fmt = body.get("response_format")
    fmt = fmt if isinstance(fmt, Mapping) else {}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        value = fill_schema(schema if isinstance(schema, Mapping) else {"type": "object"}, rng=rng, topic=topic)
        return orjson.dumps(value).decode()
    if fmt.get("type") == "json_object":
        return orjson.dumps(_json_object(topic, rng)).decode()
    lead = _attachment_sentences(found)
    if last_role(body) == "tool":
        lead += summarize_tool_results(tool_results(body))
    target = rng.randint(MIN_REPLY_TOKENS, MAX_REPLY_TOKENS)
    return compose_sentences(topic, rng, target_tokens=target, max_tokens=MAX_REPLY_TOKENS, lead=lead)


def _usage(prompt_tokens: int, prompt_details: Mapping[str, int], completion: int, reasoning: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": dict(prompt_details),
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _plan_choice(body: Mapping[str, Any], seed: int, prompt: tuple[int, dict[str, int]]) -> SimulatedReply:
    rng = random.Random(seed)
    limit = _completion_limit(body)
    reasoning = _reasoning_tokens(body, rng, limit)
    user_text, found = last_user_turn(body)
    calls = plan_tool_calls(body, user_text, rng)
    if calls:
        spent = reasoning + sum(estimate_tokens(c["function"]["arguments"]) for c in calls)
        return SimulatedReply(None, calls, "tool_calls", _usage(*prompt, spent, reasoning), [])
    content = _cut_at_stop(_content(body, rng, user_text, found), _stop_sequences(body))
    tokens = split_tokens(content)
    finish = "stop"
    visible = None if limit is None else limit - reasoning
    if visible is not None and len(tokens) > visible:
        tokens = tokens[:visible]
        content = "".join(tokens)
        finish = "length"
    return SimulatedReply(content, [], finish, _usage(*prompt, reasoning + len(tokens), reasoning), tokens)


def _total_usage(replies: Sequence[SimulatedReply]) -> dict[str, Any]:
    first = replies[0].usage
    completion = sum(r.usage["completion_tokens"] for r in replies)
    reasoning = sum(r.usage["completion_tokens_details"]["reasoning_tokens"] for r in replies)
    return _usage(first["prompt_tokens"], first["prompt_tokens_details"], completion, reasoning)


def plan_reply(body: Mapping[str, Any]) -> SimulatedReply:
    """Plan the answer to a Chat Completions request body (all ``n`` choices).

    Raises :class:`SimulatedRequestError` for bodies OpenAI would reject (no messages, bad ``n`` or limits).
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise SimulatedRequestError("'messages' must be a non-empty array", param="messages")
    n = _choice_count(body)
    base = request_seed(body)
    prompt = prompt_usage(body)
    replies = [_plan_choice(body, choice_seed(base, i), prompt) for i in range(n)]
    if n == 1:
        return replies[0]
    return replace(replies[0], usage=_total_usage(replies), alternatives=tuple(replies[1:]))


# -- rendering ----------------------------------------------------------------------------------------------


def _copy_calls(calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": c["id"], "type": "function", "function": dict(c["function"])} for c in calls]


def render_completion(
    body: Mapping[str, Any], reply: SimulatedReply, *, model: str, response_id: str, created: int
) -> dict[str, Any]:
    """The ``chat.completion`` dict for a planned reply (one choice per entry of ``reply.choices``)."""
    del body  # the plan already holds everything the non-streamed rendering needs
    choices = []
    for index, choice in enumerate(reply.choices):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": choice.content,
            "refusal": None,
            "annotations": [],
        }
        if choice.tool_calls:
            message["tool_calls"] = _copy_calls(choice.tool_calls)
        choices.append({"index": index, "message": message, "logprobs": None, "finish_reason": choice.finish_reason})
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": choices,
        "usage": _copy_usage(reply.usage),
    }


def _copy_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in usage.items()}


def _choice_deltas(choice: SimulatedReply) -> list[tuple[dict[str, Any], str | None]]:
    """(delta, finish_reason) pairs of one choice, in stream order."""
    first: dict[str, Any] = {"role": "assistant", "content": "" if choice.content is not None else None}
    first["refusal"] = None
    deltas: list[tuple[dict[str, Any], str | None]] = [(first, None)]
    deltas += [({"content": token}, None) for token in choice.tokens]
    for index, call in enumerate(choice.tool_calls):
        head = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        deltas.append(({"tool_calls": [head]}, None))
        for piece in split_tokens(call["function"]["arguments"]):
            deltas.append(({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}, None))
    deltas.append(({}, choice.finish_reason))
    return deltas


def render_chunks(
    body: Mapping[str, Any], reply: SimulatedReply, *, model: str, response_id: str, created: int
) -> list[dict[str, Any]]:
    """Every ``chat.completion.chunk`` dict of the streamed reply, in order (SSE framing and the final
    ``[DONE]`` are the caller's). With several choices, their chunks are interleaved round-robin. When
    ``stream_options.include_usage`` is true, every chunk has ``"usage": None`` and a last chunk with no
    choices carries the usage."""
    options = body.get("stream_options")
    include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    per_choice = [_choice_deltas(choice) for choice in reply.choices]
    chunks: list[dict[str, Any]] = []

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
        }
        if include_usage:
            out["usage"] = None
        return out

    for row in zip_longest(*per_choice):
        for index, item in enumerate(row):
            if item is not None:
                delta, finish = item
                chunks.append(chunk([{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]))
    if include_usage:
        final = chunk([])
        final["usage"] = _copy_usage(reply.usage)
        chunks.append(final)
    return chunks
