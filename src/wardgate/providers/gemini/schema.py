"""OpenAI tool / structured-output JSON Schema → the OpenAPI-3.0 subset Gemini accepts.

Gemini's ``Schema`` (https://ai.google.dev/api/caching#Schema, Vertex AI:
https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/Schema) knows only: type, format, title,
description, nullable, enum, items, minItems, maxItems, properties, required, minProperties, maxProperties,
minLength, maxLength, pattern, minimum, maximum, example, anyOf and propertyOrdering. Anything else is rejected
with ``Unknown name "…": Cannot find field`` (400), so this module rewrites what it can and drops the rest:

* ``$ref`` / ``$defs`` / ``definitions`` are inlined (recursive references cannot be expressed → 400);
* ``type: ["x", "null"]`` → ``type: X, nullable: true``; several non-null types → ``anyOf``;
  ``anyOf`` / ``oneOf`` with a ``{"type": "null"}`` branch → ``nullable`` on the rest; ``allOf`` is merged;
* ``const`` → a one-value ``enum``; non-string enum values are sent as strings with ``format: enum`` (as Gemini
  documents for INTEGER enums);
* ``format`` is kept only where Gemini allows it (STRING: enum/date-time; NUMBER: float/double;
  INTEGER: int32/int64) — Gemini answers 400 to any other;
* a schema with no ``type`` gets one from its shape (properties → OBJECT, items → ARRAY, else STRING): Gemini
  requires a type unless ``anyOf`` is used;
* annotation-only or unsupported keywords (``additionalProperties``, ``$schema``, ``default``, ``examples``,
  ``exclusiveMinimum``, ``uniqueItems``, ``patternProperties``, ``strict`` …) are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequestError

_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_COPIED = ("title", "description", "pattern", "minLength", "maxLength", "minItems", "maxItems")
_COPIED_OBJECT = ("minProperties", "maxProperties")
_NUMERIC = ("minimum", "maximum")
_MAX_DEPTH = 48


def to_gemini_schema(schema: Any, *, param: str, ordering: bool = False) -> dict[str, Any]:
    """Convert one JSON Schema. ``param`` names the request field in errors; ``ordering`` adds
    ``propertyOrdering`` (used for ``responseSchema``, where Gemini otherwise orders keys alphabetically)."""
    if not isinstance(schema, Mapping):
        raise InvalidRequestError(f"`{param}` must be a JSON Schema object", param=param)
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, Mapping):
            defs.update({f"#/{key}/{name}": value for name, value in found.items()})
    return _Converter(defs, param, ordering).convert(schema, (), 0)


class _Converter:
    def __init__(self, defs: dict[str, Any], param: str, ordering: bool) -> None:
        self._defs = defs
        self._param = param
        self._ordering = ordering

    def _error(self, message: str) -> InvalidRequestError:
        return InvalidRequestError(f"`{self._param}`: {message}", param=self._param)

    def convert(self, node: Any, refs: tuple[str, ...], depth: int) -> dict[str, Any]:
        if depth > _MAX_DEPTH:
            raise self._error("the schema is nested too deeply for Gemini")
        if node is True or node is None:
            return {"type": "STRING"}
        if not isinstance(node, Mapping):
            raise self._error("every schema must be an object")
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self._convert_ref(node, ref, refs, depth)
        all_of = node.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self.convert(_merge_all_of(node, all_of, self._defs), refs, depth + 1)
        branches = node.get("anyOf", node.get("oneOf"))
        if isinstance(branches, list) and branches:
            return self._convert_any_of(node, branches, refs, depth)
        kind = node.get("type")
        if isinstance(kind, list) or kind == "null":
            return self._convert_type_list(node, kind if isinstance(kind, list) else [kind], refs, depth)
        return self._convert_typed(node, self._type(node, kind), refs, depth)

    def _type(self, node: Mapping[str, Any], kind: Any) -> str:
        result = _gemini_type(node, kind)
        if result is None:
            raise self._error(f"unknown JSON Schema type {kind!r}")
        return result

    def _convert_ref(self, node: Mapping[str, Any], ref: str, refs: tuple[str, ...], depth: int) -> dict[str, Any]:
        if ref in refs:
            raise self._error(f"recursive $ref {ref!r} cannot be expressed in Gemini's schema")
        target = self._defs.get(ref)
        if target is None:
            raise self._error(f"$ref {ref!r} does not point into $defs")
        result = self.convert(target, (*refs, ref), depth + 1)
        for key in ("description", "title"):
            if isinstance(node.get(key), str):
                result[key] = node[key]
        return result

    def _convert_any_of(
        self, node: Mapping[str, Any], branches: list[Any], refs: tuple[str, ...], depth: int
    ) -> dict[str, Any]:
        real = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")]
        nullable = len(real) < len(branches)
        if len(real) == 1:
            result = self.convert(real[0], refs, depth + 1)
        else:
            result = {"anyOf": [self.convert(b, refs, depth + 1) for b in real]}
        _copy_annotations(node, result)
        if nullable:
            result["nullable"] = True
        return result

    def _convert_type_list(
        self, node: Mapping[str, Any], kinds: list[Any], refs: tuple[str, ...], depth: int
    ) -> dict[str, Any]:
        real = [k for k in kinds if k != "null"]
        if len(real) == 1:
            result = self._convert_typed(node, self._type(node, real[0]), refs, depth)
        elif not real:
            result = {"type": "STRING"}
        else:
            result = {"anyOf": [self._convert_typed(node, self._type(node, k), refs, depth) for k in real]}
            _copy_annotations(node, result)
        if "null" in kinds:
            result["nullable"] = True
        return result

    def _convert_typed(self, node: Mapping[str, Any], kind: str, refs: tuple[str, ...], depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {"type": kind}
        _copy_annotations(node, result)
        for key in _COPIED:
            if key in node and not isinstance(node[key], bool):
                result[key] = node[key]
        if kind in ("NUMBER", "INTEGER"):
            result.update({k: node[k] for k in _NUMERIC if _is_number(node.get(k))})
        _convert_enum(node, kind, result)
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(kind, ()) and "format" not in result:
            result["format"] = fmt
        if kind == "ARRAY":
            items = node.get("items")
            result["items"] = self.convert(items, refs, depth + 1) if isinstance(items, Mapping) else {"type": "STRING"}
        elif kind == "OBJECT":
            self._convert_object(node, result, refs, depth)
        if node.get("nullable") is True:
            result["nullable"] = True
        return result

    def _convert_object(
        self, node: Mapping[str, Any], result: dict[str, Any], refs: tuple[str, ...], depth: int
    ) -> None:
        properties = node.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            return  # Gemini rejects an empty ``properties`` map for OBJECT ("should be non-empty")
        result["properties"] = {str(k): self.convert(v, refs, depth + 1) for k, v in properties.items()}
        required = node.get("required")
        if isinstance(required, list):
            kept = [r for r in required if isinstance(r, str) and r in properties]
            if kept:
                result["required"] = kept
        result.update({k: node[k] for k in _COPIED_OBJECT if isinstance(node.get(k), int)})
        if self._ordering:
            result["propertyOrdering"] = list(result["properties"])


def _gemini_type(node: Mapping[str, Any], kind: Any) -> str | None:
    if kind is not None:
        return _TYPES.get(kind) if isinstance(kind, str) else None
    if isinstance(node.get("properties"), Mapping):
        return "OBJECT"
    if "items" in node:
        return "ARRAY"
    values = node.get("enum") if "enum" in node else ([node["const"]] if "const" in node else None)
    if isinstance(values, list) and values and all(type(v) is int for v in values):
        return "INTEGER"
    return "STRING"


def _convert_enum(node: Mapping[str, Any], kind: str, result: dict[str, Any]) -> None:
    values = node.get("enum") if "enum" in node else ([node["const"]] if "const" in node else None)
    if not isinstance(values, list) or not values:
        return
    real = [v for v in values if v is not None]
    if len(real) < len(values):
        result["nullable"] = True
    if kind == "BOOLEAN":
        return  # Gemini has no boolean enums; the type already says true/false
    if kind == "STRING" and all(isinstance(v, str) for v in real):
        result["enum"] = real
        return
    # INTEGER / NUMBER enums travel as strings with format "enum" (https://ai.google.dev/api/caching#Schema)
    result["enum"] = [v if isinstance(v, str) else _json_scalar(v) for v in real]
    result["format"] = "enum"


def _json_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _copy_annotations(node: Mapping[str, Any], result: dict[str, Any]) -> None:
    for key in ("title", "description"):
        if isinstance(node.get(key), str):
            result[key] = node[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _merge_all_of(node: Mapping[str, Any], parts: list[Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` merged into one schema: properties and required united, other keys first one wins."""
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties") or {})
    required: list[str] = list(merged.get("required") or [])
    for part in parts:
        for _ in range(8):  # follow a short chain of references (a cycle just stops here)
            if not (isinstance(part, Mapping) and isinstance(part.get("$ref"), str) and part["$ref"] in defs):
                break
            part = defs[part["$ref"]]
        if not isinstance(part, Mapping):
            continue
        properties.update(part.get("properties") or {})
        required.extend(r for r in part.get("required") or [] if r not in required)
        for key, value in part.items():
            if key not in ("properties", "required"):
                merged.setdefault(key, value)
    if properties:
        merged["properties"] = properties
        merged.setdefault("type", "object")
    if required:
        merged["required"] = required
    return merged
