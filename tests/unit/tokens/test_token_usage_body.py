"""Usage from whole response bodies, in each dialect, built with the providers' own SDK types."""

from __future__ import annotations

import anthropic.types as at
import orjson
import pytest
from openai.types import CreateEmbeddingResponse, Embedding
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_message import ChatCompletionMessage
from openai.types.completion_usage import CompletionTokensDetails, CompletionUsage, PromptTokensDetails
from openai.types.create_embedding_response import Usage as EmbeddingUsage
from openai.types.responses import Response, ResponseOutputMessage, ResponseOutputText, ResponseUsage
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

from wardgate.core.types import RESPONSES_DIALECT
from wardgate.tokens.usage import Usage, usage_from_body


def chat_completion(usage: CompletionUsage | None) -> bytes:
    message = ChatCompletionMessage(role="assistant", content="Hi there")
    choice = Choice(index=0, message=message, finish_reason="stop", logprobs=None)
    body = ChatCompletion(
        id="chatcmpl-1", object="chat.completion", created=1, model="gpt-4o", choices=[choice], usage=usage
    )
    return body.model_dump_json(exclude_none=usage is None).encode()


def test_openai_chat_completion() -> None:
    usage = CompletionUsage(
        prompt_tokens=1200,
        completion_tokens=300,
        total_tokens=1500,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=1024, cache_write_tokens=150, audio_tokens=0),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=128, audio_tokens=0),
    )
    assert usage_from_body("openai", chat_completion(usage)) == Usage(
        input_tokens=1200, output_tokens=300, cached_input_tokens=1024, cache_write_tokens=150, reasoning_tokens=128
    )


def test_openai_chat_completion_without_details() -> None:
    usage = CompletionUsage(prompt_tokens=9, completion_tokens=12, total_tokens=21)
    assert usage_from_body("openai", chat_completion(usage)) == Usage(input_tokens=9, output_tokens=12)


def test_openai_translated_body_reports_cache_writes() -> None:
    # The gateway's Anthropic → OpenAI translation carries cache writes in prompt_tokens_details.
    body = orjson.dumps(
        {
            "object": "chat.completion",
            "choices": [],
            "usage": {
                "prompt_tokens": 50,
                "completion_tokens": 5,
                "total_tokens": 55,
                "prompt_tokens_details": {"cached_tokens": 10, "cache_creation_tokens": 30},
            },
        }
    )
    assert usage_from_body("openai", body) == Usage(50, 5, cached_input_tokens=10, cache_write_tokens=30)


def test_openai_embeddings() -> None:
    body = CreateEmbeddingResponse(
        object="list",
        data=[Embedding(object="embedding", index=0, embedding=[0.1, 0.2])],
        model="text-embedding-3-small",
        usage=EmbeddingUsage(prompt_tokens=8, total_tokens=8),
    )
    assert usage_from_body("openai", body.model_dump_json().encode()) == Usage(input_tokens=8)


def test_anthropic_message() -> None:
    message = at.Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-sonnet-4-5",
        content=[at.TextBlock(type="text", text="Hello")],
        stop_reason="end_turn",
        stop_sequence=None,
        usage=at.Usage(
            input_tokens=20,
            cache_read_input_tokens=1000,
            cache_creation_input_tokens=300,
            output_tokens=75,
            output_tokens_details=at.OutputTokensDetails(thinking_tokens=40),
        ),
    )
    assert usage_from_body("anthropic", message.model_dump_json().encode()) == Usage(
        input_tokens=1320, output_tokens=75, cached_input_tokens=1000, cache_write_tokens=300, reasoning_tokens=40
    )


def test_anthropic_message_with_null_cache_fields() -> None:
    body = orjson.dumps(
        {
            "type": "message",
            "usage": {"input_tokens": 11, "output_tokens": 3, "cache_read_input_tokens": None},
        }
    )
    assert usage_from_body("anthropic", body) == Usage(input_tokens=11, output_tokens=3)


def test_responses_body() -> None:
    response = Response(
        id="resp_1",
        object="response",
        created_at=1.0,
        model="gpt-4.1",
        status="completed",
        output=[
            ResponseOutputMessage(
                id="msg_1",
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text="Hi", annotations=[])],
            )
        ],
        parallel_tool_calls=True,
        tool_choice="auto",
        tools=[],
        usage=ResponseUsage(
            input_tokens=400,
            input_tokens_details=InputTokensDetails(cached_tokens=256, cache_write_tokens=100),
            output_tokens=90,
            output_tokens_details=OutputTokensDetails(reasoning_tokens=64),
            total_tokens=490,
        ),
    )
    body = response.model_dump_json().encode()
    assert usage_from_body(RESPONSES_DIALECT, body) == Usage(
        input_tokens=400, output_tokens=90, cached_input_tokens=256, cache_write_tokens=100, reasoning_tokens=64
    )


@pytest.mark.parametrize("dialect", ["openai", "anthropic", RESPONSES_DIALECT])
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[1, 2]",
        b'"usage"',
        b"null",
        b'{"usage": null}',
        b'{"usage": "lots"}',
        b'{"usage": {}}',
        b'{"usage": [1, 2]}',
        b'{"error": {"type": "overloaded_error", "message": "Overloaded"}}',
        b'{"usage": {"prompt_tokens": "12", "input_tokens": true}}',
        b'{"usage": {"prompt_tokens": 1',
    ],
)
def test_no_usage_or_malformed_gives_none(dialect: str, body: bytes) -> None:
    assert usage_from_body(dialect, body) is None


def test_usage_without_a_response_is_none() -> None:
    assert usage_from_body("openai", chat_completion(None)) is None


def test_unknown_dialect_gives_none() -> None:
    assert usage_from_body("gemini", b'{"usage": {"prompt_tokens": 3, "completion_tokens": 4}}') is None


def test_negative_or_fractional_counts_read_as_zero() -> None:
    body = b'{"usage": {"prompt_tokens": -5, "completion_tokens": 2.5, "total_tokens": 1}}'
    assert usage_from_body("openai", body) == Usage(0, 0)


def test_counted_kinds() -> None:
    usage = Usage(input_tokens=100, output_tokens=20, cached_input_tokens=50)
    assert usage.total_tokens == 120
    assert (usage.counted("input"), usage.counted("output"), usage.counted("total")) == (100, 20, 120)
