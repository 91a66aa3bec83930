"""Tests of OpenAI request-body parsing: the ``param`` of every 400, and unknown fields kept for the upstream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wardgate.api.openai.parse import ROLES, parse_chat, parse_embeddings
from wardgate.core.errors import InvalidRequestError

USER = {"role": "user", "content": "hi"}
_DROP = object()  # an override value that removes the field


def body_with(base: dict[str, Any], overrides: dict[str, Any]) -> bytes:
    body = dict(base)
    for key, value in overrides.items():
        if value is _DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return orjson.dumps(body)


def chat(**overrides: Any) -> bytes:
    return body_with({"model": "gpt-4o", "messages": [USER]}, overrides)


def embeddings(**overrides: Any) -> bytes:
    return body_with({"model": "emb", "input": "hello"}, overrides)


def chat_error(raw: bytes) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        parse_chat(raw)
    return info.value


def embeddings_error(raw: bytes) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        parse_embeddings(raw)
    return info.value


# --- bodies that are not JSON objects -------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"[]", b'"s"', b"null", b"1", b"\xff"])
@pytest.mark.parametrize("parse", [parse_chat, parse_embeddings], ids=["chat", "embeddings"])
def test_body_must_be_a_json_object(parse: Any, raw: bytes) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse(raw)
    assert info.value.param is None
    assert info.value.http_status == 400
    assert info.value.message


# --- chat -----------------------------------------------------------------------------------------------------


def test_valid_chat() -> None:
    parsed = parse_chat(chat())
    assert parsed.model == "gpt-4o"
    assert parsed.stream is False
    assert parsed.body == {"model": "gpt-4o", "messages": [USER]}


def test_chat_keeps_unknown_fields() -> None:
    raw = chat(
        temperature=0.2,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        x_vendor_extension={"nested": [1, None, True]},
        parallel_tool_calls=False,
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "bob", "future_field": 1}],
    )
    parsed = parse_chat(raw)
    assert parsed.body == orjson.loads(raw)
    assert parsed.body["x_vendor_extension"] == {"nested": [1, None, True]}
    assert parsed.body["messages"][0]["future_field"] == 1


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (chat(model=_DROP), "model"),
        (chat(model=""), "model"),
        (chat(model=None), "model"),
        (chat(model=5), "model"),
        (chat(model=["gpt-4o"]), "model"),
        (chat(messages=_DROP), "messages"),
        (chat(messages=[]), "messages"),
        (chat(messages={"role": "user"}), "messages"),
        (chat(messages="hi"), "messages"),
        (chat(messages=None), "messages"),
        (chat(messages=[USER, "text"]), "messages[1]"),
        (chat(messages=[None]), "messages[0]"),
        (chat(messages=[USER, USER, {"content": "no role"}]), "messages[2].role"),
        (chat(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
        (chat(messages=[USER, {"role": "USER", "content": "x"}]), "messages[1].role"),
        (chat(messages=[{"role": None}]), "messages[0].role"),
        (chat(stream="true"), "stream"),
        (chat(stream=1), "stream"),
        (chat(stream=0), "stream"),
        (chat(stream_options={"include_usage": True}), "stream_options"),
        (chat(stream=False, stream_options={"include_usage": True}), "stream_options"),
        (chat(stream=True, stream_options=[]), "stream_options"),
        (chat(stream=True, stream_options="yes"), "stream_options"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(max_tokens=-1), "max_tokens"),
        (chat(max_tokens=1.5), "max_tokens"),
        (chat(max_tokens="10"), "max_tokens"),
        (chat(max_tokens=True), "max_tokens"),
        (chat(max_completion_tokens=0), "max_completion_tokens"),
        (chat(n=0), "n"),
        (chat(n=2.0), "n"),
        (chat(n=True), "n"),
        (chat(tools={"type": "function"}), "tools"),
        (chat(tools="search"), "tools"),
    ],
)
def test_chat_error_param(raw: bytes, param: str) -> None:
    error = chat_error(raw)
    assert error.param == param
    assert error.http_status == 400
    assert error.to_dict()["error"]["param"] == param
    assert error.to_dict()["error"]["type"] == "invalid_request_error"


def test_the_first_bad_message_is_named() -> None:
    error = chat_error(chat(messages=[USER, {"role": "bot"}, {"role": "droid"}]))
    assert error.param == "messages[1].role"


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_known_role_is_accepted(role: str) -> None:
    assert parse_chat(chat(messages=[{"role": role, "content": "x"}])).body["messages"][0]["role"] == role


@pytest.mark.parametrize(("value", "expected"), [(True, True), (False, False), (None, False)])
def test_stream_flag(value: bool | None, expected: bool) -> None:
    assert parse_chat(chat(stream=value)).stream is expected


def test_stream_options_allowed_when_streaming() -> None:
    parsed = parse_chat(chat(stream=True, stream_options={"include_usage": True}))
    assert parsed.stream is True
    assert parsed.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_tokens": 1},
        {"max_tokens": None},
        {"max_completion_tokens": 4096},
        {"n": 3},
        {"tools": []},
        {"tools": None},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"stream_options": None},
    ],
)
def test_valid_optional_fields(overrides: dict[str, Any]) -> None:
    assert parse_chat(chat(**overrides)).body == orjson.loads(chat(**overrides))


# --- embeddings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["hello", ["a", "b"], [1, 2, 3], [[1, 2], [3]]])
def test_valid_embeddings(value: Any) -> None:
    parsed = parse_embeddings(embeddings(input=value))
    assert parsed.model == "emb"
    assert parsed.stream is False
    assert parsed.body["input"] == value


def test_embeddings_keep_unknown_fields() -> None:
    raw = embeddings(dimensions=256, encoding_format="base64", user="u1", x_extra={"a": [1]})
    assert parse_embeddings(raw).body == orjson.loads(raw)


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (embeddings(model=_DROP), "model"),
        (embeddings(model=""), "model"),
        (embeddings(model=3), "model"),
        (embeddings(input=_DROP), "input"),
        (embeddings(input=""), "input"),
        (embeddings(input=[]), "input"),
        (embeddings(input=None), "input"),
        (embeddings(input=5), "input"),
        (embeddings(input={"text": "x"}), "input"),
        (embeddings(stream=True), "stream"),
    ],
)
def test_embeddings_error_param(raw: bytes, param: str) -> None:
    error = embeddings_error(raw)
    assert error.param == param
    assert error.http_status == 400


@pytest.mark.parametrize("stream", [False, None])
def test_embeddings_stream_false_is_fine(stream: bool | None) -> None:
    assert parse_embeddings(embeddings(stream=stream)).stream is False
