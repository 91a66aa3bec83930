"""Gemini ``streamGenerateContent?alt=sse`` → OpenAI ``chat.completion.chunk`` dicts, incrementally.

Each SSE ``data:`` line carries a whole ``GenerateContentResponse`` chunk (https://ai.google.dev/api/generate-content
#method:-models.streamgeneratecontent); there is no ``[DONE]``: a candidate is complete when it carries a
``finishReason`` (or the prompt was blocked: ``promptFeedback.blockReason``). Function calls arrive whole in one
part, so each becomes the opening tool-call delta followed by one arguments delta. ``usageMetadata`` may repeat
on several chunks; the last one wins and becomes the usage chunk at the end. An ``{"error": …}`` chunk raises the
mapped error; a stream that ends before every candidate finished raises ``StreamInterruptedError``.

Thought signatures become ``thinking_blocks`` deltas (see ``response``) the moment they arrive, before the part
that carries them: a signature that follows thought text directly signs that text (the thinking block a client is
building); once text or a tool call came in between, that reasoning was already delivered unsigned and the
signature travels in a block with no text of its own. Signature-only parts (an empty text or thought part holding
just the signature, as Gemini streams them) produce nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from wardgate.core.errors import StreamInterruptedError
from wardgate.providers import openai_format as oa
from wardgate.providers.gemini.errors import error_from_object
from wardgate.providers.gemini.response import (
    candidate_index,
    check_usable,
    finish_reason,
    function_call_dict,
    part_signature,
    signed_block,
    usage_from,
)
from wardgate.providers.sse import SSEDecoder
from wardgate.providers.translate import TranslationContext

JSONDict = dict[str, Any]


@dataclass(slots=True)
class _Candidate:
    started: bool = False
    calls: int = 0
    output: bool = False
    finished: bool = False
    run: str = ""  # thought text streamed since the last signature or other output


class GeminiStreamTranslator:
    """One Gemini SSE stream → OpenAI chunks (see the module docstring)."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._decoder = SSEDecoder()
        self._candidates: dict[int, _Candidate] = {}
        self._usage: Any = None
        self._blocked = False

    def feed(self, data: bytes) -> list[JSONDict]:
        out: list[JSONDict] = []
        try:
            events = self._decoder.feed(data)
        except ValueError:
            raise StreamInterruptedError("the provider sent a stream event that is too large") from None
        for event in events:
            out.extend(self._event(event.data))
        return out

    def finish(self) -> list[JSONDict]:
        # A last event without its blank line is still read (a cut one fails to parse and raises).
        out = self.feed(b"\n\n") if self._decoder.pending.strip() else []
        if not self._done:
            raise StreamInterruptedError("the provider ended the stream before it finished")
        if self._ctx.include_usage:
            out.append(oa.usage_chunk(self._ctx, usage_from(self._usage)))
        return out

    @property
    def _done(self) -> bool:
        if self._blocked:
            return True
        return bool(self._candidates) and all(c.finished for c in self._candidates.values())

    def _event(self, data: bytes) -> list[JSONDict]:
        if not data.strip():
            return []
        try:
            parsed: Any = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise StreamInterruptedError("the provider sent an invalid stream event") from None
        if isinstance(parsed, list) and len(parsed) == 1:
            parsed = parsed[0]
        if not isinstance(parsed, dict):
            raise StreamInterruptedError("the provider sent a stream event of an unexpected shape")
        if isinstance(parsed.get("error"), Mapping):
            raise error_from_object(0, parsed["error"], {})
        if parsed.get("usageMetadata") is not None:
            self._usage = parsed["usageMetadata"]
        candidates = parsed.get("candidates")
        out: list[JSONDict] = []
        if isinstance(candidates, list) and candidates:
            for position, candidate in enumerate(candidates):
                if isinstance(candidate, Mapping):
                    out.extend(self._candidate(candidate, candidate_index(candidate, position)))
        else:
            out.extend(self._prompt_feedback(parsed.get("promptFeedback")))
        return out

    def _prompt_feedback(self, feedback: Any) -> list[JSONDict]:
        if not isinstance(feedback, Mapping) or not feedback.get("blockReason") or self._blocked:
            return []
        self._blocked = True
        ctx = self._ctx
        return [oa.chunk(ctx, {"role": "assistant", "content": ""}), oa.chunk(ctx, {}, "content_filter")]

    def _candidate(self, candidate: Mapping[str, Any], index: int) -> list[JSONDict]:
        state = self._candidates.setdefault(index, _Candidate())
        if state.finished:
            return []
        ctx = self._ctx
        out: list[JSONDict] = []
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, Mapping):
                continue
            deltas = self._part(part, index, state)
            if any("content" in delta or "tool_calls" in delta for delta in deltas):
                state.output = True
            if deltas and not state.started:
                state.started = True
                out.append(oa.chunk(ctx, {"role": "assistant", "content": ""}, index=index))
            out.extend(oa.chunk(ctx, delta, index=index) for delta in deltas)
        raw_finish = candidate.get("finishReason")
        if raw_finish:
            check_usable(raw_finish, state.output)
            if not state.started:
                state.started = True
                out.append(oa.chunk(ctx, {"role": "assistant", "content": ""}, index=index))
            out.append(oa.chunk(ctx, {}, finish_reason(raw_finish, state.calls > 0), index=index))
            state.finished = True
        return out

    def _part(self, part: Mapping[str, Any], index: int, state: _Candidate) -> list[JSONDict]:
        deltas: list[JSONDict] = []
        text = part.get("text")
        text = text if isinstance(text, str) else ""
        thought = part.get("thought") is True
        if thought and text:
            state.run += text
            deltas.append({"reasoning_content": text})
        signed = part_signature(part)
        if signed is not None:
            deltas.append({"thinking_blocks": [signed_block(state.run, *signed)]})
            state.run = ""
        call = function_call_dict(self._ctx, part, index, state.calls)
        if call is not None:
            start = oa.tool_call_start(state.calls, call["id"], call["function"]["name"])
            if "extra_content" in call:
                start["tool_calls"][0]["extra_content"] = call["extra_content"]
            arguments = oa.tool_call_arguments(state.calls, call["function"]["arguments"])
            state.calls += 1
            state.run = ""
            deltas.extend([start, arguments])
        elif text and not thought:
            state.run = ""
            deltas.append({"content": text})
        return deltas
