"""Small helpers shared by the Responses translators: ids, type checks and OpenAI-style validation errors.

Error messages follow the wording the OpenAI API uses for the Responses endpoint (``Missing required parameter:
'input[0].call_id'.``, ``Invalid type for 'tools[1].name': expected a string, but got an integer instead.``,
``Invalid value: 'x'. Supported values are: ...``, ``Unknown parameter: 'foo'.``) with ``param`` set to the same
path, so a client gets the answer it would get from OpenAI itself.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequestError

JSONDict = dict[str, Any]

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a decimal",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def new_id(prefix: str) -> str:
    """An OpenAI-looking item id: ``prefix`` + ``_`` + 48 random hex digits (``msg_…``, ``fc_…``, ``rs_…``)."""
    return f"{prefix}_{secrets.token_hex(24)}"


def present(value: Mapping[str, Any]) -> JSONDict:
    """The fields of ``value`` that are not null (the Responses API treats ``null`` as absent)."""
    return {k: v for k, v in value.items() if v is not None}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), "an object")


def missing(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def invalid_type(param: str, expected: str, value: Any) -> InvalidRequestError:
    return InvalidRequestError(
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def invalid_value(param: str, value: Any, supported: Iterable[str]) -> InvalidRequestError:
    options = ", ".join(f"'{option}'" for option in supported)
    return InvalidRequestError(
        f"Invalid value: '{value}'. Supported values are: {options}.", param=param, code="invalid_value"
    )


def unsupported(param: str, what: str) -> InvalidRequestError:
    """A valid Responses feature that a chat-only provider cannot serve (the model is not served by OpenAI)."""
    return InvalidRequestError(
        f"{what} is not supported for this model: it is served by a provider that only speaks Chat Completions.",
        param=param,
        code="unsupported_parameter",
    )


def require_str(value: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    """``value[key]`` as a string; a missing (or null) one raises unless ``optional``."""
    item = value.get(key)
    if item is None:
        if optional:
            return None
        raise missing(f"{where}.{key}")
    if not isinstance(item, str):
        raise invalid_type(f"{where}.{key}", "a string", item)
    return item


def require_object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid_type(where, "an object", value)
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def count(value: Any) -> int:
    """A non-negative token count from an upstream usage field (anything else is 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


THINKING_PREFIX = "wardgate.thinking_blocks.v1:"
"""Marks a reasoning item's ``encrypted_content`` that carries the canonical ``thinking_blocks`` (Anthropic's
signed thinking) so they survive a Responses round trip; OpenAI's own encrypted reasoning never starts so."""


def encode_thinking(blocks: list[Any]) -> str:
    """The opaque ``encrypted_content`` for a list of canonical ``thinking_blocks``."""
    return THINKING_PREFIX + base64.urlsafe_b64encode(orjson.dumps(blocks)).decode()


def decode_thinking(value: Any) -> list[Any]:
    """The ``thinking_blocks`` an ``encrypted_content`` made by :func:`encode_thinking` carries, else ``[]``."""
    if not isinstance(value, str) or not value.startswith(THINKING_PREFIX):
        return []
    try:
        blocks = orjson.loads(base64.urlsafe_b64decode(value[len(THINKING_PREFIX) :].encode()))
    except (ValueError, orjson.JSONDecodeError):
        return []
    return [block for block in blocks if isinstance(block, dict)] if isinstance(blocks, list) else []
