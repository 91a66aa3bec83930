"""Proto-JSON field names: Google accepts both ``lowerCamelCase`` and the proto's ``snake_case`` names
(https://protobuf.dev/programming-guides/json/). The fake rewrites a request to camelCase once — message fields
only, never the free-form ``Struct`` values (``args``, ``response``, JSON schemas) or property names — so that
validation and replies only deal with one spelling."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

JSONDict = dict[str, Any]


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _message(obj: Any, children: Mapping[str, Callable[[Any], Any]] | None = None) -> Any:
    if not isinstance(obj, Mapping):
        return obj
    out: JSONDict = {}
    for key, value in obj.items():
        name = camel(key) if isinstance(key, str) else key
        convert = (children or {}).get(name)
        out[name] = convert(value) if convert is not None else value
    return out


def _each(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: [convert(v) for v in value] if isinstance(value, list) else value


def schema(obj: Any) -> Any:
    if not isinstance(obj, Mapping):
        return obj
    result = _message(obj, {"items": schema, "anyOf": _each(schema)})
    properties = result.get("properties")
    if isinstance(properties, Mapping):
        result["properties"] = {name: schema(value) for name, value in properties.items()}
    return result


def _part(obj: Any) -> Any:
    return _message(
        obj, {"inlineData": _message, "fileData": _message, "functionCall": _message, "functionResponse": _message}
    )


def content(obj: Any) -> Any:
    return _message(obj, {"parts": _each(_part)})


def _declaration(obj: Any) -> Any:
    return _message(obj, {"parameters": schema, "response": schema})


def _tool(obj: Any) -> Any:
    return _message(obj, {"functionDeclarations": _each(_declaration)})


def _generation(obj: Any) -> Any:
    return _message(obj, {"responseSchema": schema, "thinkingConfig": _message})


def embed_request(body: JSONDict) -> JSONDict:
    result = _message(body, {"content": content, "requests": _each(lambda item: _message(item, {"content": content}))})
    return result if isinstance(result, dict) else body


def generate_request(body: JSONDict) -> JSONDict:
    result = _message(
        body,
        {
            "contents": _each(content),
            "systemInstruction": content,
            "tools": _each(_tool),
            "toolConfig": lambda value: _message(value, {"functionCallingConfig": _message}),
            "generationConfig": _generation,
        },
    )
    return result if isinstance(result, dict) else body
