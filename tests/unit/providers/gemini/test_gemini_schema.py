"""JSON Schema → Gemini schema subset: every output must pass the fake's subset check (the real API's rules) and
google-genai's ``Schema`` model."""

from __future__ import annotations

from typing import Any

import pytest
from google.genai import types as gt

from wardgate.core.errors import InvalidRequestError
from wardgate.providers.gemini.schema import to_gemini_schema
from wardgate.testing.fake_gemini.schema import check_schema


def convert(schema: Any, *, ordering: bool = False) -> dict[str, Any]:
    result = to_gemini_schema(schema, param="tools", ordering=ordering)
    check_schema(result, "schema")
    gt.Schema.model_validate(result)
    return result


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def test_basic_types_are_upper_case() -> None:
    result = convert(obj(a={"type": "string"}, b={"type": "number"}, c={"type": "boolean"}, d={"type": "integer"}))
    assert {k: v["type"] for k, v in result["properties"].items()} == {
        "a": "STRING",
        "b": "NUMBER",
        "c": "BOOLEAN",
        "d": "INTEGER",
    }


def test_unsupported_keywords_are_dropped() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x",
        "type": "object",
        "additionalProperties": False,
        "patternProperties": {"^x": {"type": "string"}},
        "properties": {
            "n": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 2, "default": 3, "examples": [4]},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 3},
        },
    }
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {
            "n": {"type": "NUMBER"},
            "tags": {"type": "ARRAY", "maxItems": 3, "items": {"type": "STRING"}},
        },
    }


def test_nullable_type_list_and_multi_type_any_of() -> None:
    result = convert(obj(a={"type": ["string", "null"]}, b={"type": ["string", "integer"]}))
    assert result["properties"]["a"] == {"type": "STRING", "nullable": True}
    assert result["properties"]["b"] == {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}


def test_optional_any_of_with_null_collapses_to_nullable() -> None:
    schema = obj(a={"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "maybe"})
    assert convert(schema)["properties"]["a"] == {"type": "INTEGER", "description": "maybe", "nullable": True}


def test_one_of_becomes_any_of() -> None:
    schema = obj(a={"oneOf": [{"type": "string"}, obj(x={"type": "integer"})]})
    assert convert(schema)["properties"]["a"] == {
        "anyOf": [{"type": "STRING"}, {"type": "OBJECT", "properties": {"x": {"type": "INTEGER"}}}]
    }


def test_refs_are_inlined_with_sibling_description() -> None:
    schema = {
        **obj(pet={"$ref": "#/$defs/Pet", "description": "the pet"}, old={"$ref": "#/definitions/Old"}),
        "$defs": {"Pet": obj(name={"type": "string"})},
        "definitions": {"Old": {"type": "integer"}},
    }
    result = convert(schema)
    assert result["properties"]["pet"] == {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}},
        "description": "the pet",
    }
    assert result["properties"]["old"] == {"type": "INTEGER"}


def test_recursive_ref_is_refused() -> None:
    schema = {**obj(node={"$ref": "#/$defs/Node"}), "$defs": {"Node": obj(child={"$ref": "#/$defs/Node"})}}
    with pytest.raises(InvalidRequestError, match="recursive"):
        to_gemini_schema(schema, param="tools")


def test_unknown_ref_and_type_are_refused() -> None:
    with pytest.raises(InvalidRequestError):
        to_gemini_schema(obj(a={"$ref": "#/$defs/Missing"}), param="tools")
    with pytest.raises(InvalidRequestError, match="unknown JSON Schema type"):
        to_gemini_schema(obj(a={"type": "date"}), param="tools")
    with pytest.raises(InvalidRequestError):
        to_gemini_schema(["not", "a", "schema"], param="tools")


def test_all_of_is_merged() -> None:
    schema = {"allOf": [obj(a={"type": "string"}), {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]}
    assert convert(schema) == {
        "type": "OBJECT",
        "properties": {"a": {"type": "STRING"}, "b": {"type": "INTEGER"}},
        "required": ["b"],
    }


def test_enums_and_const() -> None:
    result = convert(
        obj(
            s={"type": "string", "enum": ["a", "b"]},
            i={"type": "integer", "enum": [1, 2]},
            c={"const": "fixed"},
            n={"enum": ["x", None]},
            flag={"type": "boolean", "enum": [True]},
        )
    )
    props = result["properties"]
    assert props["s"] == {"type": "STRING", "enum": ["a", "b"]}
    assert props["i"] == {"type": "INTEGER", "enum": ["1", "2"], "format": "enum"}
    assert props["c"] == {"type": "STRING", "enum": ["fixed"]}
    assert props["n"] == {"type": "STRING", "nullable": True, "enum": ["x"]}
    assert props["flag"] == {"type": "BOOLEAN"}


def test_formats_kept_only_where_gemini_allows_them() -> None:
    result = convert(
        obj(
            when={"type": "string", "format": "date-time"},
            url={"type": "string", "format": "uri"},
            big={"type": "integer", "format": "int64"},
            ratio={"type": "number", "format": "double"},
            odd={"type": "number", "format": "int32"},
        )
    )
    props = result["properties"]
    assert props["when"]["format"] == "date-time"
    assert "format" not in props["url"]
    assert props["big"]["format"] == "int64"
    assert props["ratio"]["format"] == "double"
    assert "format" not in props["odd"]


def test_untyped_schemas_get_a_type_from_their_shape() -> None:
    result = convert(obj(any={}, o={"properties": {"x": {"type": "string"}}}, a={"items": {"type": "string"}}))
    assert result["properties"]["any"] == {"type": "STRING"}
    assert result["properties"]["o"]["type"] == "OBJECT"
    assert result["properties"]["a"]["type"] == "ARRAY"


def test_empty_properties_and_dangling_required_are_dropped() -> None:
    result = convert(obj(inner={"type": "object", "properties": {}, "required": ["ghost"]}, x={"type": "string"}))
    assert result["properties"]["inner"] == {"type": "OBJECT"}
    assert convert({**obj(x={"type": "string"}), "required": ["x", "ghost"]})["required"] == ["x"]


def test_property_ordering_only_when_asked() -> None:
    schema = obj(z={"type": "string"}, a={"type": "object", "properties": {"k": {"type": "string"}}})
    assert "propertyOrdering" not in convert(schema)
    ordered = convert(schema, ordering=True)
    assert ordered["propertyOrdering"] == ["z", "a"]
    assert ordered["properties"]["a"]["propertyOrdering"] == ["k"]


def test_string_and_number_bounds_are_kept() -> None:
    result = convert(
        obj(
            s={"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^a", "title": "S"},
            n={"type": "number", "minimum": 0, "maximum": 1.5},
            o={"type": "object", "properties": {"a": {"type": "string"}}, "minProperties": 1},
        )
    )
    assert result["properties"]["s"] == {
        "type": "STRING",
        "title": "S",
        "pattern": "^a",
        "minLength": 1,
        "maxLength": 5,
    }
    assert result["properties"]["n"] == {"type": "NUMBER", "minimum": 0, "maximum": 1.5}
    assert result["properties"]["o"]["minProperties"] == 1


def test_input_is_not_mutated() -> None:
    schema = {**obj(a={"$ref": "#/$defs/A"}), "$defs": {"A": {"type": ["string", "null"]}}}
    before = repr(schema)
    convert(schema)
    assert repr(schema) == before


def test_deep_nesting_is_refused() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(60):
        schema = {"type": "array", "items": schema}
    with pytest.raises(InvalidRequestError, match="nested too deeply"):
        to_gemini_schema(schema, param="response_format")
