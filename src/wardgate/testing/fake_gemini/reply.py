"""What the fake answers to a ``generateContent`` request, and the wire bodies for it (pure, no I/O).

Shapes follow https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse: candidates with
``content.parts`` (thought text first, then text, then ``functionCall`` parts), ``finishReason``, ``index``;
``usageMetadata``; ``modelVersion``; ``responseId`` (Vertex adds ``createTime``). Streams (``alt=sse``) send
``data: <chunk>\\r\\n\\r\\n`` frames, each a whole response chunk, the last one carrying ``finishReason`` and
the full usage; function calls arrive whole in one chunk.

Thoughts (``thinkingConfig.includeThoughts``, or scripted by ``Behavior.reasoning``) are ``thought: true`` text
parts, streamed in up to ``THOUGHT_CHUNKS`` pieces. Thought signatures
(https://ai.google.dev/gemini-api/docs/thought-signatures): Gemini 3 models sign the first ``functionCall`` part,
as documented; other models sign the thought itself — on the thought part, and in a stream on an empty thought
part after the thought text (the shape Gemini's streams take for a signature that closes the thoughts).
"""

from __future__ import annotations

import base64
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.testing.fake_gemini.schema import fill_schema
from wardgate.testing.script import Behavior
from wardgate.testing.wire import count_words, split_content, truncate_words

JSONDict = dict[str, Any]
DEFAULT_SENTENCE = "Hello! This is a reply from the fake Gemini server."
THOUGHT_TEXT = "Thinking about what the user asked before answering."
THOUGHT_CHUNKS = 3
IMAGE_TOKENS = 258  # Gemini bills a small image as 258 tokens
_OPENAI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP"}
_OPENAI_USAGE = {"prompt_tokens": "promptTokenCount", "completion_tokens": "candidatesTokenCount"}
_MALFORMED = b'data: {"candidates": [{"content": {"parts": [{"text": "broken\r\n\r\n'


@dataclass(frozen=True, slots=True)
class FakeCall:
    name: str
    args: JSONDict
    id: str | None = None


@dataclass(frozen=True, slots=True)
class GeminiReply:
    vertex: bool
    model: str
    response_id: str
    thought: str | None
    text: str | None
    pieces: tuple[str, ...]
    calls: tuple[FakeCall, ...]
    signature: str | None
    thought_signature: str | None
    finish: str
    usage: JSONDict
    candidates: int


def build_reply(body: JSONDict, model: str, behavior: Behavior, *, vertex: bool) -> GeminiReply:
    config: Mapping[str, Any] = body.get("generationConfig") or {}
    chunks = behavior.chunks or 20
    calls = _calls(body, behavior)
    text = _text(config, behavior, calls, chunks)
    finish = "STOP"
    limit = config.get("maxOutputTokens")
    if text and not calls and isinstance(limit, int) and count_words(text) > limit:
        text, finish = truncate_words(text, limit), "MAX_TOKENS"
    for stop in config.get("stopSequences") or []:
        if text and stop and stop in text:
            text = text[: text.index(stop)]
    if behavior.finish_reason is not None:
        finish = _OPENAI_FINISH.get(behavior.finish_reason, behavior.finish_reason)
    thought = _thought(config, behavior)
    gemini_3 = model.removeprefix("models/").startswith("gemini-3")
    requested = config.get("candidateCount")
    n = requested if isinstance(requested, int) and requested > 0 else 1
    completion = count_words(text or "") + sum(math.ceil(len(orjson.dumps(c.args)) / 4) for c in calls)
    usage = _usage(prompt_tokens(body), completion * n, count_words(thought or ""), behavior.usage)
    return GeminiReply(
        vertex=vertex,
        model=behavior.served_model or model,
        response_id=base64.urlsafe_b64encode(os.urandom(15)).decode(),
        thought=thought,
        text=text,
        pieces=split_content(text, chunks) if text else (),
        calls=calls,
        signature=_signature() if calls and gemini_3 else None,
        thought_signature=_signature() if thought and not gemini_3 else None,
        finish=finish,
        usage=usage,
        candidates=n,
    )


def _thought(config: Mapping[str, Any], behavior: Behavior) -> str | None:
    """The scripted reasoning, else the default thought when the request includes thoughts."""
    if behavior.reasoning is not None:
        return behavior.reasoning or None
    thinking: Mapping[str, Any] = config.get("thinkingConfig") or {}
    return THOUGHT_TEXT if thinking.get("includeThoughts") is True and thinking.get("thinkingBudget") != 0 else None


def _signature() -> str:
    return base64.b64encode(os.urandom(24)).decode()


def _calls(body: JSONDict, behavior: Behavior) -> tuple[FakeCall, ...]:
    """Scripted calls, else one call fitting the schema when the mode is ANY (first allowed function)."""
    if behavior.tool_calls is not None:
        out = []
        for call in behavior.tool_calls:
            args = orjson.loads(call.arguments) if isinstance(call.arguments, str) else call.arguments
            out.append(FakeCall(call.name, args if isinstance(args, dict) else {}, call.id))
        return tuple(out)
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if str(calling.get("mode", "AUTO")).upper() != "ANY":
        return ()
    declarations = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    allowed = calling.get("allowedFunctionNames") or [d["name"] for d in declarations]
    chosen = next((d for d in declarations if d["name"] == allowed[0]), None) if allowed else None
    if chosen is None:
        return ()
    parameters = chosen.get("parameters") or chosen.get("parametersJsonSchema")
    args = fill_schema(parameters) if parameters else {}
    return (FakeCall(chosen["name"], args if isinstance(args, dict) else {}),)


def _text(config: Mapping[str, Any], behavior: Behavior, calls: tuple[FakeCall, ...], chunks: int) -> str | None:
    if behavior.content is not None:
        return behavior.content
    if calls:
        return None
    if config.get("responseMimeType") == "application/json":
        schema = config.get("responseSchema") or config.get("responseJsonSchema")
        value = fill_schema(schema) if schema else {"answer": default_content(chunks)}
        return orjson.dumps(value).decode()
    return default_content(chunks)


def default_content(words: int) -> str:
    """The deterministic default reply: the default sentence's words cycled to ``words`` words."""
    base = DEFAULT_SENTENCE.split()
    return " ".join(base[i % len(base)] for i in range(max(1, words)))


def prompt_tokens(body: JSONDict) -> int:
    """≈ characters / 4 of the text, 258 per inline image, ≈ JSON size / 4 of function parts."""
    chars = 0
    tokens = 0
    contents = list(body.get("contents") or [])
    if isinstance(body.get("systemInstruction"), Mapping):
        contents.append(body["systemInstruction"])
    for content in contents:
        for part in content.get("parts") or [] if isinstance(content, Mapping) else []:
            if not isinstance(part, Mapping):
                continue
            if isinstance(part.get("text"), str):
                chars += len(part["text"])
            elif "inlineData" in part:
                tokens += IMAGE_TOKENS
            else:
                chars += len(orjson.dumps(part))
    return max(1, tokens + math.ceil(chars / 4))


def _usage(prompt: int, completion: int, thoughts: int, override: Mapping[str, Any] | None) -> JSONDict:
    usage: JSONDict = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if override:
        for key, value in override.items():
            usage[_OPENAI_USAGE.get(key, key)] = value
        if "totalTokenCount" not in override:
            usage["totalTokenCount"] = sum(
                int(usage.get(k) or 0)
                for k in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount")
            )
    return usage


# ------------------------------------------------------------------------------------------- bodies


def _call_parts(reply: GeminiReply) -> list[JSONDict]:
    parts: list[JSONDict] = []
    for position, call in enumerate(reply.calls):
        function: JSONDict = {"name": call.name, "args": call.args}
        if call.id:
            function["id"] = call.id
        part: JSONDict = {"functionCall": function}
        if position == 0 and reply.signature:
            part["thoughtSignature"] = reply.signature
        parts.append(part)
    return parts


def _envelope(reply: GeminiReply, parts: list[JSONDict], finish: str | None, usage: JSONDict) -> JSONDict:
    candidates = []
    for index in range(reply.candidates):
        candidate: JSONDict = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = index
        candidates.append(candidate)
    body: JSONDict = {"candidates": candidates, "usageMetadata": usage, "modelVersion": reply.model}
    if reply.vertex:
        body["createTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    body["responseId"] = reply.response_id
    return body


def response_body(reply: GeminiReply) -> JSONDict:
    parts: list[JSONDict] = []
    if reply.thought:
        thought: JSONDict = {"text": reply.thought, "thought": True}
        if reply.thought_signature:
            thought["thoughtSignature"] = reply.thought_signature
        parts.append(thought)
    if reply.text:
        parts.append({"text": reply.text})
    parts.extend(_call_parts(reply))
    if not parts:
        parts.append({"text": ""})
    return _envelope(reply, parts, reply.finish, reply.usage)


def stream_frames(reply: GeminiReply, malformed: bool = False) -> list[bytes]:
    """Every SSE frame of the streamed reply; the last one carries ``finishReason`` and the full usage."""
    steps: list[list[JSONDict]] = []
    if reply.thought:
        steps.extend([{"text": piece, "thought": True}] for piece in split_content(reply.thought, THOUGHT_CHUNKS))
        if reply.thought_signature:
            steps.append([{"text": "", "thought": True, "thoughtSignature": reply.thought_signature}])
    steps.extend([{"text": piece}] for piece in reply.pieces)
    if reply.calls:
        steps.append(_call_parts(reply))
    if not steps:
        steps.append([{"text": ""}])
    early: JSONDict = {k: reply.usage[k] for k in ("promptTokenCount", "promptTokensDetails") if k in reply.usage}
    early["totalTokenCount"] = reply.usage.get("promptTokenCount", 0)
    frames = []
    for position, parts in enumerate(steps):
        last = position == len(steps) - 1
        chunk = _envelope(reply, parts, reply.finish if last else None, reply.usage if last else early)
        frames.append(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n")
    if malformed:
        frames.insert(min(1, len(frames)), _MALFORMED)
    return frames
