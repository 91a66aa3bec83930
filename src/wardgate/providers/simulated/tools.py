"""Tool use in the simulated provider: reading ``tools``/``tool_choice``/``parallel_tool_calls``, deciding
whether to call, choosing the most relevant function(s), building OpenAI tool_call objects with schema-valid
arguments, and turning trailing tool results into summary sentences.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .prompt import ToolResult, last_role
from .schema_fill import fill_schema
from .text import STOPWORDS, extract_topic, words_of

__all__ = ["ToolChoice", "plan_tool_calls", "read_tool_choice", "summarize_tool_results"]

_SEGMENT_RE = re.compile(r"[,;\n]|\band\b|&|\balso\b", re.I)
_ID_ALPHABET = string.ascii_letters + string.digits
_MAX_SUMMARISED = 3


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """What the request allows: ``mode`` is "none", "auto" or "required"; ``named`` forces one call."""

    mode: str
    functions: tuple[Mapping[str, Any], ...]
    named: bool = False
    parallel: bool = True


def _functions(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    tools = body.get("tools")
    out: list[Mapping[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        fn = tool.get("function") if isinstance(tool, Mapping) and tool.get("type", "function") == "function" else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            out.append(fn)
    return out


def _named(spec: Any) -> str | None:
    if isinstance(spec, Mapping):
        fn = spec.get("function")
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return str(fn["name"])
        if isinstance(spec.get("name"), str):  # Responses-style {"type": "function", "name": ...}
            return str(spec["name"])
    return None


def read_tool_choice(body: Mapping[str, Any]) -> ToolChoice:
    """Interpret ``tool_choice`` ("none" | "auto" | "required" | named function | allowed_tools)."""
    functions = _functions(body)
    parallel = body.get("parallel_tool_calls") is not False
    if not functions:
        return ToolChoice(mode="none", functions=())
    choice = body.get("tool_choice", "auto")
    if choice in ("none", "auto", "required"):
        return ToolChoice(mode=str(choice), functions=tuple(functions), parallel=parallel)
    if isinstance(choice, Mapping) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools")
        allowed = allowed if isinstance(allowed, Mapping) else {}
        specs = allowed.get("tools")
        names = {_named(t) for t in specs} if isinstance(specs, list) else set()
        subset = tuple(f for f in functions if f["name"] in names) or tuple(functions)
        mode = "required" if allowed.get("mode") == "required" else "auto"
        return ToolChoice(mode=mode, functions=subset, parallel=parallel)
    name = _named(choice)
    if name is not None:
        fn = next((f for f in functions if f["name"] == name), {"name": name})
        return ToolChoice(mode="required", functions=(fn,), named=True, parallel=False)
    return ToolChoice(mode="auto", functions=tuple(functions), parallel=parallel)


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _vocabulary(fn: Mapping[str, Any]) -> set[str]:
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(fn.get("name", ""))).replace("_", " ").replace("-", " ")
    text = f"{name} {fn.get('description') or ''}"
    return {_stem(w) for w in words_of(text) if w.lower() not in STOPWORDS and len(w) > 2}


def _best_function(functions: tuple[Mapping[str, Any], ...], text: str) -> tuple[Mapping[str, Any], int]:
    said = {_stem(w) for w in words_of(text)}
    scored = [(len(_vocabulary(fn) & said), -i, fn) for i, fn in enumerate(functions)]
    score, _, best = max(scored, key=lambda item: (item[0], item[1]))
    return best, score


def _segments(text: str) -> list[str]:
    parts = [p.strip() for p in _SEGMENT_RE.split(text)]
    return [p for p in parts if extract_topic(p).keywords]


def _call_id(rng: random.Random) -> str:
    return "call_" + "".join(rng.choice(_ID_ALPHABET) for _ in range(24))


def _make_call(fn: Mapping[str, Any], text: str, rng: random.Random) -> dict[str, Any]:
    params = fn.get("parameters")
    schema: Mapping[str, Any] = params if isinstance(params, Mapping) else {"type": "object", "properties": {}}
    args = fill_schema(schema, rng=rng, topic=extract_topic(text))
    if not isinstance(args, dict):
        args = {}
    return {
        "id": _call_id(rng),
        "type": "function",
        "function": {"name": str(fn["name"]), "arguments": orjson.dumps(args).decode()},
    }


def plan_tool_calls(body: Mapping[str, Any], user_text: str, rng: random.Random) -> list[dict[str, Any]]:
    """The tool calls of one choice, or ``[]`` when the reply should be text.

    "required"/named always call; "auto" calls when the conversation ends with a user message. With
    ``parallel_tool_calls`` (default) and a message listing several things ("Paris and London"), two calls are
    made, one per listed thing, each to the function most relevant to it.
    """
    choice = read_tool_choice(body)
    if choice.mode == "none" or (choice.mode == "auto" and last_role(body) != "user"):
        return []
    best, _ = _best_function(choice.functions, user_text)
    segments = _segments(user_text)
    if not (choice.parallel and not choice.named and len(segments) >= 2):
        return [_make_call(best, user_text, rng)]
    calls = []
    for segment in segments[:2]:
        fn, score = _best_function(choice.functions, segment)
        calls.append(_make_call(fn if score > 0 else best, segment, rng))
    return calls


def _describe(value: Any, max_words: int = 8) -> str:
    if isinstance(value, str):
        words = value.split()
        return '"' + " ".join(words[:max_words]) + ("…" if len(words) > max_words else "") + '"'
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return f"{len(value)} items"
    return "a nested object"


def _summary(result: ToolResult) -> str:
    try:
        data = orjson.loads(result.content)
    except orjson.JSONDecodeError:
        data = result.content
    if isinstance(data, dict) and data:
        facts = "; ".join(f"{str(k).replace('_', ' ')}: {_describe(v)}" for k, v in list(data.items())[:4])
        return f"The {result.name} tool reports {facts}."
    if isinstance(data, list):
        return f"The {result.name} tool returned {len(data)} result{'s' if len(data) != 1 else ''}."
    if data in ("", None) or isinstance(data, dict):
        return f"The {result.name} tool returned no data."
    return f"The {result.name} tool returned {_describe(data, max_words=20)}."


def summarize_tool_results(results: list[ToolResult]) -> list[str]:
    """One sentence per tool result (at most three, then a count of the rest)."""
    sentences = [_summary(r) for r in results[:_MAX_SUMMARISED]]
    if len(results) > _MAX_SUMMARISED:
        sentences.append(f"{len(results) - _MAX_SUMMARISED} more tool results were also received.")
    return sentences
