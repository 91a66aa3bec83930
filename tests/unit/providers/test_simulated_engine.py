"""Tests of the simulated provider's engine: wire shapes validated against the official openai SDK types,
planning behaviour (length, n, limits, stop, images, tools, structured output, reasoning), streaming
reassembly, determinism, and embeddings (float/base64, similarity)."""

from __future__ import annotations

import base64
import copy
import importlib
import json
import math
import re
import struct
from collections.abc import Mapping
from typing import Any

import openai
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageFunctionToolCall
from pydantic import BaseModel

from wardgate.providers.simulated.engine import (
    SimulatedReply,
    SimulatedRequestError,
    embed,
    estimate_tokens,
    plan_reply,
    render_chunks,
    render_completion,
)
from wardgate.providers.simulated.schema_fill import fill_schema
from wardgate.providers.simulated.text import extract_topic, split_tokens

MODEL = "sim-gpt"
RID = "chatcmpl-test123"
CREATED = 1_700_000_000

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["location", "unit"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_documents",
        "description": "Full-text search over the company documents",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 50},
                "filters": {
                    "type": "object",
                    "properties": {
                        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "after": {"type": "string", "format": "date"},
                        "archived": {"type": "boolean"},
                    },
                    "required": ["tags", "archived"],
                },
            },
            "required": ["query", "filters"],
        },
    },
}
TOOLS = [SEARCH, WEATHER]

RECIPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 3},
        "servings": {"type": "integer", "minimum": 1, "maximum": 12},
        "rating": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
        "vegetarian": {"type": "boolean"},
        "difficulty": {"type": "string", "enum": ["easy", "medium", "hard"]},
        "ingredients": {"type": "array", "items": {"$ref": "#/$defs/ingredient"}, "minItems": 2, "maxItems": 4},
        "notes": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "maxItems": 3},
        "source": {"type": ["string", "null"], "format": "uri"},
    },
    "required": ["title", "servings", "rating", "vegetarian", "difficulty", "ingredients", "notes", "tags"],
    "additionalProperties": False,
    "$defs": {
        "ingredient": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "grams": {"type": "number", "minimum": 0},
                "unit": {"const": "g"},
            },
            "required": ["name", "grams", "unit"],
            "additionalProperties": False,
        }
    },
}


# -- helpers ------------------------------------------------------------------------------------------------


def chat(text: str | list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def assert_no_extras(model: BaseModel) -> None:
    """The SDK models accept unknown keys; insist there are none, so misspelt fields fail the test."""
    assert not model.model_extra, f"{type(model).__name__} has unexpected fields {model.model_extra}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                assert_no_extras(item)


def completion(body: dict[str, Any]) -> tuple[SimulatedReply, ChatCompletion]:
    reply = plan_reply(body)
    wire = render_completion(body, reply, model=MODEL, response_id=RID, created=CREATED)
    parsed = ChatCompletion.model_validate(wire)
    assert_no_extras(parsed)
    return reply, parsed


def chunks(body: dict[str, Any]) -> list[ChatCompletionChunk]:
    wire = render_chunks(body, plan_reply(body), model=MODEL, response_id=RID, created=CREATED)
    parsed = [ChatCompletionChunk.model_validate(c) for c in wire]
    for chunk in parsed:
        assert_no_extras(chunk)
        assert (chunk.id, chunk.model, chunk.created) == (RID, MODEL, CREATED)
    return parsed


def reassemble(stream: list[ChatCompletionChunk]) -> dict[int, dict[str, Any]]:
    """Accumulate a stream the way clients do: per choice content, tool calls by index, finish reason."""
    out: dict[int, dict[str, Any]] = {}
    for chunk in stream:
        for choice in chunk.choices:
            acc = out.setdefault(choice.index, {"content": None, "calls": {}, "finish": None, "role": None})
            delta = choice.delta
            acc["role"] = acc["role"] or delta.role
            if delta.content is not None:
                acc["content"] = (acc["content"] or "") + delta.content
            for call in delta.tool_calls or []:
                slot = acc["calls"].setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                slot["id"] = slot["id"] or call.id
                if call.function is not None:
                    slot["name"] = slot["name"] or call.function.name
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason is not None:
                assert acc["finish"] is None, "finish_reason sent twice"
                acc["finish"] = choice.finish_reason
    return out


TYPE_CHECKS: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def validate(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> None:
    """A small JSON Schema validator covering the keywords the tests use."""
    root = root if root is not None else schema
    if "$ref" in schema:
        target: Any = root
        for key in filter(None, schema["$ref"].lstrip("#/").split("/")):
            target = target[key]
        return validate(value, target, root)
    if "const" in schema:
        assert value == schema["const"]
    if "enum" in schema:
        assert value in schema["enum"], (value, schema["enum"])
    if "anyOf" in schema:
        errors = 0
        for branch in schema["anyOf"]:
            try:
                validate(value, branch, root)
            except AssertionError:
                errors += 1
        assert errors < len(schema["anyOf"]), f"{value!r} matches no anyOf branch"
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        assert any(TYPE_CHECKS[k](value) for k in kinds), f"{value!r} is not {kinds}"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            assert name in value, f"missing required {name!r} in {value}"
        if schema.get("additionalProperties") is False:
            assert set(value) <= set(props), set(value) - set(props)
        for name, sub in props.items():
            if name in value:
                validate(value[name], sub, root)
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0)
        assert len(value) <= schema.get("maxItems", math.inf)
        if schema.get("uniqueItems"):
            assert len({json.dumps(v, sort_keys=True) for v in value}) == len(value)
        for item in value:
            validate(item, schema.get("items", {}), root)
    if isinstance(value, str):
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf)
        if schema.get("format") == "date":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
        if schema.get("format") == "uri":
            assert value.startswith("https://")
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert value >= schema.get("minimum", -math.inf)
        assert value <= schema.get("maximum", math.inf)
        assert value > schema.get("exclusiveMinimum", -math.inf)
    return None


def schema_of(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    return tool["function"]["parameters"]  # type: ignore[no-any-return]


USER_TEXTS = [
    "How do I bake sourdough bread at home?",
    "Explain how photosynthesis works in desert plants",
    "What are the main causes of inflation?",
    "hi",
    "",
    "Compare PostgreSQL and SQLite for a small web app",
    "Tell me about the history of the Roman aqueducts and their engineering",
]


# -- chat completions: plain text ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", USER_TEXTS)
def test_plain_text_reply_is_a_valid_chat_completion(text: str) -> None:
    reply, parsed = completion(chat(text))
    assert parsed.object == "chat.completion"
    assert parsed.system_fingerprint == "fp_wardgate_sim"
    [choice] = parsed.choices
    assert choice.finish_reason == "stop" and choice.logprobs is None
    assert choice.message.role == "assistant" and choice.message.refusal is None
    assert choice.message.tool_calls is None
    assert choice.message.content == reply.content and reply.content
    assert "".join(reply.tokens) == reply.content
    assert 20 <= len(reply.tokens) <= 60
    usage = parsed.usage
    assert usage is not None
    assert usage.completion_tokens == len(reply.tokens)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens >= 4 + estimate_tokens(text)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens == 0


def test_reply_refers_to_the_topic_of_the_last_user_message() -> None:
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Tell me about volcanoes"},
            {"role": "assistant", "content": "Volcanoes are vents in the crust."},
            {"role": "user", "content": [{"type": "text", "text": "And what about glaciers?"}]},
        ],
    }
    reply = plan_reply(body)
    assert reply.content is not None and "glaciers" in reply.content
    assert "volcano" not in reply.content.lower()


def test_length_stays_between_20_and_60_tokens_across_many_prompts() -> None:
    lengths = {len(plan_reply(chat(f"Question {i} about gardening tomatoes")).tokens) for i in range(60)}
    assert min(lengths) >= 20 and max(lengths) <= 60
    assert len(lengths) > 5  # lengths vary


def test_same_request_gives_the_same_reply_and_seed_controls_variation() -> None:
    body = chat("Describe the life cycle of a monarch butterfly")
    assert plan_reply(body) == plan_reply(copy.deepcopy(body))
    assert plan_reply({**body, "seed": 7}) == plan_reply({**body, "seed": 7})
    seeded = {plan_reply({**body, "seed": s}).content for s in range(8)}
    assert len(seeded) > 1
    # the seed, not the wording, picks the sentences; the topic still comes from the message
    other = plan_reply({**chat("Describe the migration of grey whales"), "seed": 7})
    assert other.content is not None and "whales" in other.content


def test_request_body_is_not_mutated() -> None:
    body = chat("Plan a weekend in Lisbon", tools=TOOLS, n=2, stream_options={"include_usage": True})
    before = copy.deepcopy(body)
    reply = plan_reply(body)
    render_completion(body, reply, model=MODEL, response_id=RID, created=CREATED)
    render_chunks(body, reply, model=MODEL, response_id=RID, created=CREATED)
    assert body == before


# -- n, limits, stop --------------------------------------------------------------------------------------


def test_n_choices_differ_and_usage_sums() -> None:
    body = chat("Give me tips for learning the cello", n=3)
    reply, parsed = completion(body)
    assert [c.index for c in parsed.choices] == [0, 1, 2]
    contents = [c.message.content for c in parsed.choices]
    assert len(set(contents)) == 3
    assert parsed.usage is not None
    assert parsed.usage.completion_tokens == sum(len(c.tokens) for c in reply.choices)
    # choice 0 is the same whatever n is
    assert contents[0] == plan_reply(chat("Give me tips for learning the cello")).content


@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_token_limit_truncates_with_finish_reason_length(key: str) -> None:
    full = plan_reply(chat("Why is the sky blue during the day?"))
    reply, parsed = completion(chat("Why is the sky blue during the day?", **{key: 7}))
    assert parsed.choices[0].finish_reason == "length"
    assert len(reply.tokens) == 7 and parsed.usage is not None and parsed.usage.completion_tokens == 7
    assert full.content is not None and full.content.startswith(reply.content or "!")


def test_generous_limit_does_not_truncate() -> None:
    reply = plan_reply(chat("Why is the sky blue?", max_tokens=500))
    assert reply.finish_reason == "stop" and reply == plan_reply(chat("Why is the sky blue?"))


def test_stop_sequence_cuts_content() -> None:
    full = plan_reply(chat("How do tides work?")).content
    assert full is not None
    second_sentence_start = full.split(". ")[1][:6]
    for stop in (second_sentence_start, ["zzz-never", second_sentence_start]):
        reply, parsed = completion(chat("How do tides work?", stop=stop))
        assert reply.content == full[: full.index(second_sentence_start)]
        assert parsed.choices[0].finish_reason == "stop"
        assert "".join(reply.tokens) == reply.content


# -- multimodal input -------------------------------------------------------------------------------------


def test_images_are_counted_and_mentioned() -> None:
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": "What is in these pictures?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    text_only = plan_reply(chat("What is in these pictures?"))
    reply, _ = completion(chat(parts))
    assert reply.content is not None and "image" in reply.content
    assert reply.usage["prompt_tokens"] == text_only.usage["prompt_tokens"] + 85 + 765


def test_audio_and_file_parts_are_acknowledged() -> None:
    parts: list[dict[str, Any]] = [
        {"type": "text", "text": "Summarise this"},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-abc"}},
    ]
    reply, parsed = completion(chat(parts))
    assert reply.content is not None and "audio" in reply.content and "file" in reply.content
    assert parsed.usage is not None and parsed.usage.prompt_tokens_details is not None
    assert (parsed.usage.prompt_tokens_details.audio_tokens or 0) > 0


# -- tools ------------------------------------------------------------------------------------------------


def _calls(parsed: ChatCompletion) -> list[tuple[str, dict[str, Any]]]:
    message = parsed.choices[0].message
    assert parsed.choices[0].finish_reason == "tool_calls"
    assert message.content is None and message.tool_calls
    out = []
    for call in message.tool_calls:
        assert isinstance(call, ChatCompletionMessageFunctionToolCall)
        assert call.type == "function" and re.fullmatch(r"call_[A-Za-z0-9]{24}", call.id)
        out.append((call.function.name, json.loads(call.function.arguments)))
    return out


def test_tool_choice_required_calls_the_most_relevant_tool_with_valid_arguments() -> None:
    reply, parsed = completion(chat("What is the weather like in Oslo?", tools=TOOLS, tool_choice="required"))
    [(name, args)] = _calls(parsed)
    assert name == "get_weather" and args["location"] == "Oslo"
    validate(args, schema_of(WEATHER))
    assert reply.usage["completion_tokens"] == estimate_tokens(reply.tool_calls[0]["function"]["arguments"])


def test_named_tool_choice_forces_that_tool() -> None:
    choice = {"type": "function", "function": {"name": "search_documents"}}
    _, parsed = completion(chat("What is the weather like in Oslo and Bergen?", tools=TOOLS, tool_choice=choice))
    [(name, args)] = _calls(parsed)
    assert name == "search_documents"
    validate(args, schema_of(SEARCH))
    assert "weather" in args["query"]


def test_auto_calls_a_tool_when_the_user_spoke_last() -> None:
    _, parsed = completion(chat("Search the documents for the quarterly revenue report", tools=TOOLS))
    [(name, args)] = _calls(parsed)
    assert name == "search_documents"
    validate(args, schema_of(SEARCH))


def test_tool_choice_none_answers_in_text() -> None:
    reply, parsed = completion(chat("What is the weather like in Oslo?", tools=TOOLS, tool_choice="none"))
    assert parsed.choices[0].finish_reason == "stop" and reply.tool_calls == []
    assert reply.content


def test_after_a_tool_result_auto_answers_with_a_summary() -> None:
    first = plan_reply(chat("What is the weather like in Oslo?", tools=TOOLS))
    call = first.tool_calls[0]
    body = {
        "model": MODEL,
        "tools": TOOLS,
        "messages": [
            {"role": "user", "content": "What is the weather like in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": first.tool_calls},
            {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature": 4, "sky": "light snow"}'},
        ],
    }
    reply, parsed = completion(body)
    assert parsed.choices[0].finish_reason == "stop"
    assert reply.content is not None
    assert "get_weather" in reply.content and "light snow" in reply.content and "4" in reply.content


def test_parallel_tool_calls_for_several_things() -> None:
    body = chat("What's the weather in Paris and in London?", tools=TOOLS, tool_choice="required")
    _, parsed = completion(body)
    calls = _calls(parsed)
    assert [name for name, _ in calls] == ["get_weather", "get_weather"]
    assert [args["location"] for _, args in calls] == ["Paris", "London"]
    for _, args in calls:
        validate(args, schema_of(WEATHER))
    ids = [c.id for c in parsed.choices[0].message.tool_calls or []]
    assert len(set(ids)) == 2
    _, single = completion({**body, "parallel_tool_calls": False})
    assert len(_calls(single)) == 1


def test_tool_without_parameters_gets_empty_object() -> None:
    tool = {"type": "function", "function": {"name": "get_time"}}
    _, parsed = completion(chat("What time is it?", tools=[tool], tool_choice="required"))
    assert _calls(parsed) == [("get_time", {})]


# -- structured output ------------------------------------------------------------------------------------


def test_json_object_response_format() -> None:
    reply, parsed = completion(chat("List facts about octopuses", response_format={"type": "json_object"}))
    value = json.loads(parsed.choices[0].message.content or "")
    assert isinstance(value, dict) and value
    assert "octopuses" in json.dumps(value)
    assert "".join(reply.tokens) == reply.content


@pytest.mark.parametrize("seed", range(12))
def test_json_schema_response_format_is_valid(seed: int) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "recipe", "strict": True, "schema": RECIPE_SCHEMA}}
    _, parsed = completion(chat("Give me an easy vegetarian lasagna recipe", response_format=fmt, seed=seed))
    value = json.loads(parsed.choices[0].message.content or "")
    validate(value, RECIPE_SCHEMA)


def test_schema_filler_edge_cases() -> None:
    import random

    topic = extract_topic("Track the shipment to Berlin in fahrenheit")
    tree = {
        "$ref": "#/definitions/node",
        "definitions": {
            "node": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#"}}},
                "required": ["label", "children"],
            }
        },
    }
    for seed in range(20):
        rng = random.Random(seed)
        validate(fill_schema(tree, rng=rng, topic=topic), tree)
        merged = {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"required": ["b"]}]}
        value = fill_schema(merged, rng=rng, topic=topic)
        assert isinstance(value["a"], int) and "b" in value
        assert fill_schema({"enum": ["celsius", "fahrenheit"]}, rng=rng, topic=topic) == "fahrenheit"
        number = fill_schema({"type": "number", "minimum": 10, "maximum": 11, "multipleOf": 0.5}, rng=rng, topic=topic)
        assert 10 <= number <= 11 and number * 2 == int(number * 2)


# -- reasoning --------------------------------------------------------------------------------------------


def test_reasoning_tokens_are_counted_in_completion_tokens() -> None:
    reply, parsed = completion(chat("Prove that there are infinitely many primes", reasoning_effort="high"))
    usage = parsed.usage
    assert usage is not None and usage.completion_tokens_details is not None
    reasoning = usage.completion_tokens_details.reasoning_tokens or 0
    assert reasoning > 0 and usage.completion_tokens == reasoning + len(reply.tokens)
    _, by_name = completion({**chat("Prove it"), "model": "sim-reasoner"})
    assert by_name.usage is not None and by_name.usage.completion_tokens_details is not None
    assert (by_name.usage.completion_tokens_details.reasoning_tokens or 0) > 0


def test_reasoning_respects_the_completion_limit() -> None:
    reply = plan_reply(
        chat("Prove that there are infinitely many primes", reasoning_effort="high", max_completion_tokens=30)
    )
    assert reply.usage["completion_tokens"] <= 30
    assert reply.finish_reason == "length"


# -- streaming --------------------------------------------------------------------------------------------

STREAM_BODIES = [
    chat("How do I bake sourdough bread at home?"),
    chat("How do I bake sourdough bread at home?", n=2),
    chat("Why is the sky blue?", max_tokens=9),
    chat("What is the weather like in Oslo?", tools=TOOLS),
    chat("What's the weather in Paris and in London?", tools=TOOLS, n=2),
    chat("List facts about octopuses", response_format={"type": "json_object"}),
]


@pytest.mark.parametrize("body", STREAM_BODIES)
def test_streamed_reassembly_equals_non_streamed_completion(body: dict[str, Any]) -> None:
    _, parsed = completion(body)
    streamed = reassemble(chunks(body))
    assert sorted(streamed) == [c.index for c in parsed.choices]
    for choice in parsed.choices:
        acc = streamed[choice.index]
        assert acc["role"] == "assistant"
        assert acc["content"] == choice.message.content
        assert acc["finish"] == choice.finish_reason
        expected = [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in choice.message.tool_calls or []
            if isinstance(c, ChatCompletionMessageFunctionToolCall)
        ]
        assert len(expected) == len(choice.message.tool_calls or [])
        assert [acc["calls"][i] for i in sorted(acc["calls"])] == expected


def test_stream_chunk_shapes() -> None:
    body = chat("What is the weather like in Oslo?", tools=TOOLS)
    wire = render_chunks(body, plan_reply(body), model=MODEL, response_id=RID, created=CREATED)
    assert all("usage" not in c for c in wire)
    assert wire[0]["choices"][0]["delta"]["role"] == "assistant"
    head = wire[1]["choices"][0]["delta"]["tool_calls"][0]
    assert set(head) == {"index", "id", "type", "function"}
    assert head["function"]["arguments"] == "" and head["function"]["name"] == "get_weather"
    fragments = [c["choices"][0]["delta"]["tool_calls"][0] for c in wire[2:-1]]
    assert len(fragments) > 1
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in fragments)
    assert wire[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}

    text_body = chat("Hello there")
    text_wire = render_chunks(text_body, plan_reply(text_body), model=MODEL, response_id=RID, created=CREATED)
    assert text_wire[0]["choices"][0]["delta"]["content"] == ""
    reply = plan_reply(text_body)
    assert [c["choices"][0]["delta"]["content"] for c in text_wire[1:-1]] == reply.tokens


def test_include_usage_adds_a_final_usage_chunk() -> None:
    body = chat("Explain recursion", n=2, stream_options={"include_usage": True})
    parsed_chunks = chunks(body)
    wire = render_chunks(body, plan_reply(body), model=MODEL, response_id=RID, created=CREATED)
    assert all("usage" in c and c["usage"] is None for c in wire[:-1])
    last = parsed_chunks[-1]
    assert last.choices == [] and last.usage is not None
    _, parsed = completion(body)
    assert parsed.usage is not None and last.usage.model_dump() == parsed.usage.model_dump()
    assert all(len(c.choices) == 1 for c in parsed_chunks[:-1])


# -- through the official SDK (mock transport, no network) --------------------------------------------------


def _sdk_client() -> openai.OpenAI:
    try:  # the HTTP library this openai SDK is built on (httpx2 in newer releases, httpx before)
        httpx: Any = importlib.import_module("httpx2")
    except ImportError:  # pragma: no cover
        httpx = importlib.import_module("httpx")

    def handler(request: Any) -> Any:
        body = json.loads(request.content)
        if request.url.path.endswith("/embeddings"):
            return httpx.Response(200, json=embed(body, model=body["model"]))
        reply = plan_reply(body)
        if not body.get("stream"):
            return httpx.Response(200, json=render_completion(body, reply, model=MODEL, response_id=RID, created=1))
        wire = render_chunks(body, reply, model=MODEL, response_id=RID, created=1)
        sse = "".join(f"data: {json.dumps(c)}\n\n" for c in wire) + "data: [DONE]\n\n"
        return httpx.Response(200, content=sse.encode(), headers={"content-type": "text/event-stream"})

    transport = httpx.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-sim", base_url="http://sim.invalid/v1", max_retries=0, http_client=httpx.Client(transport=transport)
    )


def test_official_sdk_parses_completions_streams_and_embeddings() -> None:
    client = _sdk_client()
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris and in London?"}]
    done = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert done.choices[0].finish_reason == "tool_calls" and len(done.choices[0].message.tool_calls or []) == 2
    stream = client.chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    pieces = list(stream)
    assert pieces[-1].usage is not None
    text = "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    assert text == plan_reply({"model": MODEL, "messages": messages}).content
    vectors = client.embeddings.create(model="text-embedding-3-small", input=["alpha beta", "gamma"])  # base64
    expected = embed({"input": ["alpha beta", "gamma"], "model": "text-embedding-3-small"}, model=MODEL)
    assert [d.embedding for d in vectors.data] == [d["embedding"] for d in expected["data"]]


# -- embeddings -------------------------------------------------------------------------------------------


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _vectors(texts: list[str], **extra: Any) -> list[list[float]]:
    wire = embed({"model": "text-embedding-3-small", "input": texts, **extra}, model="text-embedding-3-small")
    parsed = CreateEmbeddingResponse.model_validate(wire)
    assert_no_extras(parsed)
    assert [d.index for d in parsed.data] == list(range(len(texts)))
    return [d.embedding for d in parsed.data]


def test_embeddings_float_shape_norm_and_determinism() -> None:
    wire = embed({"input": "The quick brown fox", "model": "text-embedding-3-small"}, model="emb")
    parsed = CreateEmbeddingResponse.model_validate(wire)
    assert parsed.model == "emb" and parsed.object == "list"
    assert parsed.usage.prompt_tokens == parsed.usage.total_tokens == estimate_tokens("The quick brown fox")
    [vector] = [d.embedding for d in parsed.data]
    assert len(vector) == 1536
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-5)
    again, same_words = _vectors(["The quick brown fox", "the QUICK brown fox!"])
    assert again == vector == same_words
    [small] = _vectors(["The quick brown fox"], dimensions=64)
    assert len(small) == 64


def test_embeddings_base64_decodes_to_the_float_vectors() -> None:
    texts = ["first text", "second, different text"]
    floats = _vectors(texts)
    wire = embed({"input": texts, "encoding_format": "base64"}, model="emb")
    # (the SDK types declare list[float]; the SDK decodes base64 itself, see the end-to-end SDK test)
    assert all(isinstance(item["embedding"], str) for item in wire["data"])
    for item, expected in zip(wire["data"], floats, strict=True):
        raw = base64.b64decode(item["embedding"])
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == expected


def test_embedding_similarity_tracks_shared_words() -> None:
    base, close, related, unrelated = _vectors(
        [
            "how do I bake sourdough bread at home",
            "how can I bake sourdough bread at home",
            "sourdough bread baking tips",
            "quarterly tax filing deadline for small businesses",
        ]
    )
    assert _cosine(base, close) > _cosine(base, related) > _cosine(base, unrelated)
    assert _cosine(base, close) > 0.8
    assert abs(_cosine(base, unrelated)) < 0.2


def test_embedding_token_array_inputs() -> None:
    wire = embed({"input": [[1, 2, 3], [4, 5]]}, model="emb")
    assert wire["usage"]["prompt_tokens"] == 5 and len(wire["data"]) == 2
    single = embed({"input": [9, 8, 7, 6]}, model="emb")
    assert single["usage"]["total_tokens"] == 4 and len(single["data"]) == 1


# -- errors and small pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{"model": MODEL}, {"model": MODEL, "messages": []}, chat("x", n=0), chat("x", max_tokens=0)],
)
def test_invalid_chat_bodies_raise(body: dict[str, Any]) -> None:
    with pytest.raises(SimulatedRequestError):
        plan_reply(body)


@pytest.mark.parametrize(
    "body",
    [
        {"input": ""},
        {"input": []},
        {"input": [1.5]},
        {"input": "x", "dimensions": 0},
        {"input": "x", "encoding_format": "hex"},
    ],
)
def test_invalid_embedding_bodies_raise(body: dict[str, Any]) -> None:
    with pytest.raises(SimulatedRequestError) as caught:
        embed(body, model="emb")
    assert caught.value.param in {"input", "dimensions", "encoding_format"}


def test_estimate_tokens_and_split_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a") == 1
    assert estimate_tokens("x" * 400) == 100
    text = "Hello, world!  This is\n a test. "
    assert "".join(split_tokens(text)) == text
    assert split_tokens("Hi there.") == ["Hi", " there", "."]
