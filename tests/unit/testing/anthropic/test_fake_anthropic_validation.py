"""FakeAnthropic rejects what Anthropic rejects: each rule with a raw HTTP request and the 400 error body."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from wardgate.testing.fake_anthropic import FakeAnthropic

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
TOOL = {"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
CALL = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "found"}
Body = dict[str, Any]


def base() -> Body:
    return {"model": "claude-test", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}


def with_messages(*messages: Any) -> Callable[[Body], None]:
    def apply(body: Body) -> None:
        body["messages"] = list(messages)

    return apply


def user_blocks(*blocks: Any) -> Callable[[Body], None]:
    return with_messages({"role": "user", "content": list(blocks)})


def image(media_type: str, data: str) -> dict[str, Any]:
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def update(**fields: Any) -> Callable[[Body], None]:
    return lambda body: body.update(fields)


def drop(key: str) -> Callable[[Body], None]:
    return lambda body: body.pop(key)


INVALID: list[tuple[str, Callable[[Body], None], str]] = [
    ("extra field", update(stream_options={"include_usage": True}), "stream_options: Extra inputs are not permitted"),
    ("no max_tokens", drop("max_tokens"), "max_tokens: Field required"),
    ("no model", drop("model"), "model: Field required"),
    ("max_tokens 0", update(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
    ("temperature 1.5", update(temperature=1.5), "temperature: Input should be less than or equal to 1"),
    ("no messages", with_messages(), "at least one message is required"),
    ("assistant first", with_messages({"role": "assistant", "content": "x"}), 'first message must use the "user"'),
    (
        "two user turns",
        with_messages({"role": "user", "content": "a"}, {"role": "user", "content": "b"}),
        "roles must alternate",
    ),
    ("system role", with_messages({"role": "system", "content": "x"}), "Input should be 'user' or 'assistant'"),
    ("message name", with_messages({"role": "user", "content": "x", "name": "bob"}), "Extra inputs are not permitted"),
    ("empty text block", user_blocks({"type": "text", "text": ""}), "text content blocks must be non-empty"),
    ("empty user string", with_messages({"role": "user", "content": ""}), "must have non-empty content"),
    ("orphan tool_result", user_blocks(RESULT), "unexpected `tool_use_id`"),
    (
        "tool_use without result",
        with_messages(
            {"role": "user", "content": "q"}, {"role": "assistant", "content": [CALL]}, {"role": "user", "content": "?"}
        ),
        "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
    ),
    (
        "tool_result after text",
        with_messages(
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [CALL]},
            {"role": "user", "content": [{"type": "text", "text": "and"}, RESULT]},
        ),
        "`tool_result` blocks must come before any other content",
    ),
    ("tool_use from the user", user_blocks(CALL), "`tool_use` blocks are not allowed in user messages"),
    ("bmp image", user_blocks(image("image/bmp", PNG)), "Input should be 'image/jpeg'"),
    ("png labelled jpeg", user_blocks(image("image/jpeg", PNG)), "Image does not match the provided media type"),
    ("bad base64", user_blocks(image("image/png", "!!!notbase64")), "Invalid base64 data"),
    (
        "ftp image url",
        user_blocks({"type": "image", "source": {"type": "url", "url": "ftp://x/y.png"}}),
        "Input should be a valid URL",
    ),
    ("unknown tool in tool_choice", update(tools=[TOOL], tool_choice={"type": "tool", "name": "nope"}), "not found"),
    ("any without tools", update(tool_choice={"type": "any"}), "may only be specified while providing tools"),
    ("tool_choice extra", update(tools=[TOOL], tool_choice={"type": "auto", "parallel": False}), "Extra inputs"),
    ("bad tool name", update(tools=[{**TOOL, "name": "look up"}]), "String should match pattern"),
    ("non-object schema", update(tools=[{**TOOL, "input_schema": {"type": "array"}}]), "Input should be 'object'"),
    ("duplicate tools", update(tools=[TOOL, TOOL]), "Tool names must be unique"),
    ("openai-style tool", update(tools=[{"type": "function", "function": {"name": "x"}}]), "Input tag 'function'"),
    (
        "bad cache ttl",
        user_blocks({"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "10m"}}),
        "Input should be '5m' or '1h'",
    ),
    ("small budget", update(thinking={"type": "enabled", "budget_tokens": 500}), "greater than or equal to 1024"),
    (
        "budget >= max_tokens",
        update(thinking={"type": "enabled", "budget_tokens": 1024}),
        "`max_tokens` must be greater",
    ),
    (
        "thinking with temperature",
        update(max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 1024}, temperature=0.5),
        "`temperature` may only be set to 1 when thinking is enabled",
    ),
    (
        "thinking with a forced tool",
        update(
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            tools=[TOOL],
            tool_choice={"type": "any"},
        ),
        "Thinking may not be enabled when tool_choice forces tool use.",
    ),
    ("metadata extra", update(metadata={"user_id": "u", "team": "t"}), "metadata.team: Extra inputs"),
    (
        "openai call id",
        with_messages(
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{**CALL, "id": "call.1"}]},
            {"role": "user", "content": [{**RESULT, "tool_use_id": "call.1"}]},
        ),
        "String should match pattern",
    ),
    ("image in system", update(system=[image("image/png", PNG)]), "system.0.type: Input should be 'text'"),
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(models=["claude-test"]) as server:
        yield server


async def post(
    fake: FakeAnthropic, body: Any, version: str = "2023-06-01", path: str = "/v1/messages"
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"anthropic-version": version, "content-type": "application/json", "x-api-key": "any"}
    async with aiohttp.ClientSession() as session, session.post(fake.url + path, data=data, headers=headers) as resp:
        return resp.status, orjson.loads(await resp.read())


@pytest.mark.parametrize(("case", "mutate", "fragment"), INVALID, ids=[c[0] for c in INVALID])
async def test_invalid_requests_get_anthropics_400(
    fake: FakeAnthropic, case: str, mutate: Callable[[Body], None], fragment: str
) -> None:
    body = base()
    mutate(body)
    status, error = await post(fake, body)
    assert status == 400, case
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert fragment in error["error"]["message"]
    assert error["request_id"].startswith("req_")


async def test_valid_requests_pass(fake: FakeAnthropic) -> None:
    body = base()
    body["messages"] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                image("image/png", PNG),
            ],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "Searching."}, CALL]},
        {"role": "user", "content": [RESULT, {"type": "text", "text": "thanks"}]},
        {"role": "assistant", "content": "Prefilled"},
    ]
    body.update(
        tools=[TOOL],
        tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        system="sys",
        stop_sequences=["x"],
        metadata={"user_id": "u"},
        top_k=5,
    )
    status, message = await post(fake, body)
    assert status == 200 and message["type"] == "message"
    pdf = base64.b64encode(b"%PDF-1.4 fake").decode()
    doc = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf}}
    assert (await post(fake, {**base(), "messages": [{"role": "user", "content": [doc]}]}))[0] == 200


async def test_lenient_alternation_merges_turns_like_the_real_api() -> None:
    async with FakeAnthropic(strict_alternation=False) as fake:
        body = base()
        body["messages"] = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
        assert (await post(fake, body))[0] == 200


async def test_api_version_2026_10_21_rules(fake: FakeAnthropic) -> None:
    status, error = await post(fake, {**base(), "temperature": 0.5}, version="2026-10-21")
    assert status == 400 and "sampling parameters were removed" in error["error"]["message"]
    assert (await post(fake, base(), version="2026-10-21"))[0] == 200
    cited = {"type": "text", "text": "x", "citations": [{"type": "char_location"}]}
    status, error = await post(fake, {**base(), "messages": [{"role": "user", "content": [cited]}]}, "2026-10-21")
    assert status == 400 and "citations" in error["error"]["message"]
    status, error = await post(fake, base(), version="2024-01-01")
    assert status == 400 and "anthropic-version" in error["error"]["message"]


async def test_bad_json_unknown_model_and_unknown_path(fake: FakeAnthropic) -> None:
    status, error = await post(fake, b"{not json")
    assert status == 400 and error["error"]["type"] == "invalid_request_error"
    status, error = await post(fake, {**base(), "model": "claude-nope"})
    assert (status, error["error"]) == (404, {"type": "not_found_error", "message": "model: claude-nope"})
    status, error = await post(fake, base(), path="/v1/complete")
    assert status == 404 and error["error"]["type"] == "not_found_error"
    assert [r.path for r in fake.requests] == ["/v1/messages", "/v1/messages", "/v1/complete"]
