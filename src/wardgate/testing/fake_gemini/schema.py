"""Gemini's OpenAPI schema subset: a strict checker (as the real API refuses what it does not know) and a filler
that builds a value fitting a schema (for forced function calls and JSON-mode answers).

Subset: https://ai.google.dev/api/caching#Schema. Types are matched case-insensitively (the API accepts both).
The filler also understands plain JSON Schema (``responseJsonSchema``): lowercase types, ``$ref`` into ``$defs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCHEMA_FIELDS = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "maxItems",
        "minItems",
        "properties",
        "required",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "example",
        "anyOf",
        "propertyOrdering",
        "default",
        "items",
        "minimum",
        "maximum",
    }
)
TYPES = frozenset({"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"})
_FORMATS = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}


class SchemaError(Exception):
    """``where`` is the field path; ``unknown`` names an unknown field (the API's "Cannot find field")."""

    def __init__(self, message: str, where: str, unknown: str | None = None) -> None:
        super().__init__(message)
        self.where = where
        self.unknown = unknown


def check_schema(schema: Any, where: str, depth: int = 0) -> None:
    if depth > 64:
        raise SchemaError("schema is nested too deeply", where)
    if not isinstance(schema, Mapping):
        raise SchemaError("must be an object", where)
    for name in schema:
        if name not in SCHEMA_FIELDS:
            raise SchemaError("Cannot find field", where, unknown=name)
    kind = schema.get("type")
    any_of = schema.get("anyOf")
    if kind is None and not any_of:
        raise SchemaError("must be specified when not using one_of, any_of or all_of fields", f"{where}.type")
    upper = str(kind).upper() if kind is not None else None
    if upper is not None and (not isinstance(kind, str) or upper not in TYPES):
        raise SchemaError(f"Invalid value {kind!r} for type", f"{where}.type")
    _check_enum_and_format(schema, upper, where)
    if any_of is not None:
        if not isinstance(any_of, list) or not any_of:
            raise SchemaError("must be a non-empty list", f"{where}.any_of")
        for index, branch in enumerate(any_of):
            check_schema(branch, f"{where}.any_of[{index}]", depth + 1)
    if upper == "ARRAY" and schema.get("items") is not None:
        check_schema(schema["items"], f"{where}.items", depth + 1)
    if upper == "OBJECT":
        _check_object(schema, where, depth)


def _check_enum_and_format(schema: Mapping[str, Any], kind: str | None, where: str) -> None:
    enum = schema.get("enum")
    if enum is not None:
        if not isinstance(enum, list) or not all(isinstance(v, str) for v in enum):
            raise SchemaError("Invalid value (TYPE_STRING)", f"{where}.enum")
        if kind not in ("STRING", None) and schema.get("format") != "enum":
            raise SchemaError("enum is only supported for STRING type (or with format enum)", f"{where}.enum")
    fmt = schema.get("format")
    if fmt is None or (fmt == "enum" and enum is not None):
        return
    allowed = _FORMATS.get(kind or "", frozenset())
    if fmt not in allowed:
        names = " and ".join(f"'{f}'" for f in sorted(allowed)) or "no formats"
        raise SchemaError(f"only {names} are supported for {kind} type", f"{where}.format")


def _check_object(schema: Mapping[str, Any], where: str, depth: int) -> None:
    properties = schema.get("properties")
    if properties is not None:
        if not isinstance(properties, Mapping) or not properties:
            raise SchemaError("should be non-empty for OBJECT type", f"{where}.properties")
        for name, prop in properties.items():
            check_schema(prop, f"{where}.properties[{name}]", depth + 1)
    names = properties or {}
    for index, name in enumerate(schema.get("required") or []):
        if name not in names:
            raise SchemaError("property is not defined", f"{where}.required[{index}]")
    for index, name in enumerate(schema.get("propertyOrdering") or []):
        if name not in names:
            raise SchemaError("property is not defined", f"{where}.property_ordering[{index}]")


# ------------------------------------------------------------------------------------------------ fill


def fill_schema(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A deterministic value that fits ``schema`` (Gemini subset or JSON Schema)."""
    root = schema if root is None else root
    if not isinstance(schema, Mapping) or depth > 24:
        return "example"
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and isinstance(root, Mapping):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target.get(key) if isinstance(target, Mapping) else None
        return fill_schema(target, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            real = [b for b in branches if not (isinstance(b, Mapping) and str(b.get("type")).lower() == "null")]
            return fill_schema((real or branches)[0], root, depth + 1)
    enum = schema.get("enum")
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "string")
    lower = str(kind).lower() if kind is not None else _guess(schema)
    if isinstance(enum, list) and enum:
        return _enum_value(enum[0], lower)
    if lower == "object":
        properties = schema.get("properties")
        if not isinstance(properties, Mapping):
            return {}
        return {str(name): fill_schema(prop, root, depth + 1) for name, prop in properties.items()}
    if lower == "array":
        low = schema.get("minItems")
        count = low if isinstance(low, int) else 1
        return [fill_schema(schema.get("items"), root, depth + 1) for _ in range(max(1, count))]
    return _scalar(schema, lower)


def _guess(schema: Mapping[str, Any]) -> str:
    if "properties" in schema:
        return "object"
    return "array" if "items" in schema else "string"


def _enum_value(value: Any, kind: str) -> Any:
    if kind == "integer" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if kind == "number" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _scalar(schema: Mapping[str, Any], kind: str) -> Any:
    if kind in ("integer", "number"):
        low = schema.get("minimum")
        value: float = low if isinstance(low, int | float) else 1
        return int(value) if kind == "integer" else float(value) + 0.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if schema.get("format") == "date-time":
        return "2025-01-01T00:00:00Z"
    low = schema.get("minLength")
    minimum = low if isinstance(low, int) else 0
    return "example".ljust(minimum, "x")
