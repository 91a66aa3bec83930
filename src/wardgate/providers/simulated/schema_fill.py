"""JSON Schema filler of the simulated provider: builds a value that validates against a (tool parameters
or structured output) JSON Schema, using words of the user's message for strings where that reads well.

Supported: ``type`` (single or list), ``enum``, ``const``, ``properties``/``required``, ``items``,
``prefixItems``, ``minItems``/``maxItems``/``uniqueItems``, ``minLength``/``maxLength``, ``format``,
numeric bounds and ``multipleOf``, ``anyOf``/``oneOf`` (first non-null branch), ``allOf`` (merged), local
``$ref`` (``#/$defs/...``, ``#/definitions/...``). ``pattern`` is not honoured. Pure and deterministic.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from typing import Any

from .text import Topic

__all__ = ["fill_schema"]

_MAX_DEPTH = 16  # past this, give up (a schema whose required properties recurse forever has no value)
_SHALLOW_DEPTH = 4  # past this, skip optional properties and keep arrays at minItems

_PLACE_HINTS = ("location", "city", "place", "destination", "origin", "country", "address", "region")
_QUERY_HINTS = ("query", "search", "question", "prompt", "input", "q", "keywords")
_PROSE_HINTS = ("description", "summary", "body", "content", "message", "text", "note", "comment", "reason")
_NAME_HINTS = ("name", "title", "subject", "topic", "term", "label", "tag", "keyword", "category")
_FIXED_STRINGS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("email",), "user@example.com"),
    (("phone",), "+1-555-0100"),
    (("currency",), "USD"),
    (("language", "lang", "locale"), "en"),
    (("unit", "units"), "metric"),
    (("timezone", "tz"), "UTC"),
)
_NUMBER_HINTS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("lat", "latitude"), 48.8566),
    (("lon", "lng", "longitude"), 2.3522),
    (("year",), 2024),
    (("age",), 30),
    (("temperature", "temp"), 21),
    (("price", "amount", "cost", "total"), 19.99),
    (("limit", "count", "num", "n", "top_k", "max_results", "size", "quantity"), 5),
)


def fill_schema(
    schema: Mapping[str, Any] | bool, *, rng: random.Random, topic: Topic, optional_rate: float = 0.5
) -> Any:
    """A value valid against ``schema``; optional object properties are included with ``optional_rate``."""
    root: Mapping[str, Any] = schema if isinstance(schema, Mapping) else {}
    return _Filler(rng, topic, root, optional_rate).value(schema, name="", depth=0, index=0)


def _hint(name: str, hints: tuple[str, ...]) -> bool:
    snake = re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower().replace("-", "_")
    parts = snake.split("_")
    parts += [p[:-1] for p in parts if len(p) > 3 and p.endswith("s")]  # "notes" -> "note"
    return snake in hints or any(h in parts for h in hints)


class _Filler:
    def __init__(self, rng: random.Random, topic: Topic, root: Mapping[str, Any], optional_rate: float) -> None:
        self.rng = rng
        self.topic = topic
        self.root = root
        self.optional_rate = optional_rate

    # -- dispatch -----------------------------------------------------------------------------------------
    def value(self, schema: Mapping[str, Any] | bool, *, name: str, depth: int, index: int) -> Any:
        if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
            return None if depth > _MAX_DEPTH else self.string({}, name, index)
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.enum(schema["enum"])
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                rest = {k: v for k, v in schema.items() if k != key}
                return self.value(
                    {**rest, **self.resolve(self.pick_branch(branches))},
                    name=name,
                    depth=depth + 1,
                    index=index,
                )
        kind = self.kind(schema)
        if kind == "object":
            return self.obj(schema, depth, index)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind in ("number", "integer"):
            return self.number(schema, name, integer=kind == "integer")
        if kind == "boolean":  # true when the user mentioned the flag ("vegetarian"), else a coin flip
            return name.lower() in {w.lower() for w in self.topic.keywords} or self.rng.random() < 0.5
        if kind == "null":
            return None
        return self.string(schema, name, index)

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow local ``$ref`` chains and merge ``allOf`` branches into one schema."""
        for _ in range(_MAX_DEPTH):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            target = self.pointer(ref)
            schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
        parts = schema.get("allOf")
        if not isinstance(parts, list):
            return schema
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in parts:
            if not isinstance(part, Mapping):
                continue
            for key, val in self.resolve(part).items():
                if key == "properties" and isinstance(val, Mapping):
                    merged["properties"] = {**merged.get("properties", {}), **val}
                elif key == "required" and isinstance(val, list):
                    merged["required"] = list(dict.fromkeys([*merged.get("required", []), *val]))
                else:
                    merged.setdefault(key, val)
        return merged

    def pointer(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for raw in ref[1:].split("/")[1:]:
            key = raw.replace("~1", "/").replace("~0", "~")
            node = node.get(key) if isinstance(node, Mapping) else None
        return node if isinstance(node, Mapping) else {}

    def pick_branch(self, branches: list[Any]) -> Mapping[str, Any]:
        for branch in branches:
            if isinstance(branch, Mapping) and self.kind(self.resolve(branch)) != "null":
                return branch
        first = branches[0]
        return first if isinstance(first, Mapping) else {}

    @staticmethod
    def kind(schema: Mapping[str, Any]) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            non_null = [t for t in declared if t != "null"]
            declared = non_null[0] if non_null else "null"
        if isinstance(declared, str):
            return declared
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema:
            return "array"
        return "string"

    # -- kinds --------------------------------------------------------------------------------------------
    def enum(self, options: list[Any]) -> Any:
        words = {w.lower() for w in self.topic.keywords} | {w.lower() for w in self.topic.proper_nouns}
        for option in options:
            if isinstance(option, str) and option.lower() in words:
                return option
        return self.rng.choice(options)

    def obj(self, schema: Mapping[str, Any], depth: int, index: int) -> dict[str, Any]:
        props = schema.get("properties")
        props = props if isinstance(props, Mapping) else {}
        required = schema.get("required")
        required_set = set(required) if isinstance(required, list) else set()
        rate = self.optional_rate if depth < _SHALLOW_DEPTH else 0.0
        out: dict[str, Any] = {}
        for prop, sub in props.items():
            if prop in required_set or self.rng.random() < rate:
                out[prop] = self.value(sub, name=prop, depth=depth + 1, index=index + len(out))
        for prop in sorted(required_set - set(props)):  # required but undeclared: any value will do
            if isinstance(prop, str):
                out[prop] = self.string({}, prop, len(out))
        return out

    def array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        low = schema.get("minItems", 0)
        low = low if isinstance(low, int) and low > 0 else 0
        high = schema.get("maxItems")
        high = high if isinstance(high, int) and high >= low else max(low, 3)
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        wanted = low if depth >= _SHALLOW_DEPTH else max(low, min(high, self.rng.randint(1, 3), len(prefix) or 3))
        items = schema.get("items", {})
        out: list[Any] = []
        for i in range(wanted * 3):  # a few extra attempts to find distinct values for uniqueItems
            if len(out) >= wanted:
                break
            sub = prefix[i] if i < len(prefix) else items
            item = self.value(sub, name=name, depth=depth + 1, index=i)
            if schema.get("uniqueItems") and item in out:
                continue
            out.append(item)
        return out

    def number(self, schema: Mapping[str, Any], name: str, *, integer: bool) -> float | int:
        low, high = _bounds(schema, integer)
        guess: float | None = next((v for hints, v in _NUMBER_HINTS if _hint(name, hints)), None)
        if guess is None and self.topic.numbers:
            guess = self.topic.numbers[0]
        if guess is None or not low <= guess <= high:
            top = min(high, low + 100) if math.isfinite(low) else min(high, 100)
            bottom = max(low, top - 100)
            guess = self.rng.uniform(bottom, top)
        step = schema.get("multipleOf")
        if isinstance(step, int | float) and not isinstance(step, bool) and step > 0:
            guess = round(guess / step) * step
            if guess < low:
                guess += step
            return int(guess) if integer and float(guess).is_integer() else guess
        if integer:
            whole = round(guess)
            return int(whole if low <= whole <= high else (math.ceil(guess) if guess < high else math.floor(guess)))
        return round(guess, 2) if low <= round(guess, 2) <= high else guess

    def string(self, schema: Mapping[str, Any], name: str, index: int) -> str:
        text = self.string_for_format(schema.get("format")) or self.string_for_name(name, index)
        low = schema.get("minLength")
        if isinstance(low, int) and len(text) < low:
            text = (text + " ") * (low // max(1, len(text)) + 1)
            text = text[:low]
        high = schema.get("maxLength")
        if isinstance(high, int) and len(text) > high:
            text = text[:high]
        return text

    def string_for_format(self, fmt: Any) -> str | None:
        rng = self.rng
        if fmt == "date-time":
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z"
        if fmt == "date":
            return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if fmt == "time":
            return f"{rng.randint(0, 23):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
        if fmt == "email":
            return "user@example.com"
        if fmt in ("uri", "url", "iri"):
            return "https://example.com/" + self.slug()
        if fmt == "uuid":
            digits = f"{rng.getrandbits(128):032x}"
            return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-a{digits[17:20]}-{digits[20:]}"
        if fmt == "hostname":
            return "example.com"
        if fmt == "ipv4":
            return f"192.0.2.{rng.randint(1, 254)}"
        return None

    def string_for_name(self, name: str, index: int) -> str:
        topic = self.topic
        for hints, fixed in _FIXED_STRINGS:
            if _hint(name, hints):
                return fixed
        if _hint(name, ("url", "link", "website", "uri", "href")):
            return "https://example.com/" + self.slug()
        if _hint(name, _PLACE_HINTS):
            places = topic.proper_nouns or tuple(w.capitalize() for w in topic.keywords) or ("Paris",)
            return places[index % len(places)]
        if _hint(name, _QUERY_HINTS):
            return " ".join(topic.text.split()[:16]) or (topic.phrase or "example")
        if _hint(name, _PROSE_HINTS):
            return f"A short note about {topic.phrase or 'the request'}."
        if _hint(name, ("id", "uuid", "key")):
            return f"{name or 'item'}_{self.rng.randint(1000, 9999)}"
        if _hint(name, ("date", "day")):
            return self.string_for_format("date") or ""
        if _hint(name, _NAME_HINTS) and topic.phrase and index == 0:
            return topic.phrase.title() if _hint(name, ("title",)) else topic.phrase
        words = topic.keywords or ("example",)
        return words[index % len(words)]

    def slug(self) -> str:
        return "-".join(self.topic.keywords[:3]).lower() or "page"


def _bounds(schema: Mapping[str, Any], integer: bool) -> tuple[float, float]:
    def num(key: str) -> float | None:
        val = schema.get(key)
        return float(val) if isinstance(val, int | float) and not isinstance(val, bool) else None

    low, high = num("minimum"), num("maximum")
    ex_low, ex_high = num("exclusiveMinimum"), num("exclusiveMaximum")
    nudge = 1.0 if integer else 0.01
    if ex_low is not None:
        low = max(low if low is not None else -math.inf, ex_low + nudge)
    if ex_high is not None:
        high = min(high if high is not None else math.inf, ex_high - nudge)
    low = -math.inf if low is None else low
    high = math.inf if high is None else high
    if integer:
        low, high = (
            (math.ceil(low) if math.isfinite(low) else low),
            (math.floor(high) if math.isfinite(high) else high),
        )
    return low, high
