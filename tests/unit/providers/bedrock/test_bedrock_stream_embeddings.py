"""Stream state machine edge cases (exceptions, truncation, corrupt frames) and embeddings translation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types import CreateEmbeddingResponse

from wardgate.core.errors import (
    InvalidRequestError,
    RateLimitError,
    StreamInterruptedError,
    UnsupportedParameterError,
    UpstreamStatusError,
)
from wardgate.providers.bedrock import BedrockAdapter
from wardgate.providers.translate import TranslationContext, UnsupportedMode
from wardgate.testing.fake_bedrock import encode_message, event_frame, exception_frame

START = event_frame("messageStart", {"role": "assistant"})
TEXT = event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "hi"}})
STOP = event_frame("messageStop", {"stopReason": "end_turn"})
META = event_frame("metadata", {"usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {}})


def _ctx(model: str = "anthropic.claude-v2", mode: UnsupportedMode = "strict") -> TranslationContext:
    return TranslationContext(
        upstream_model=model, request_model="m", response_id="r", created=1, stream=True, unsupported_mode=mode
    )


def _run(data: bytes) -> list[dict[str, Any]]:
    translator = BedrockAdapter().chat_stream(_ctx())
    return translator.feed(data) + translator.finish()


def test_complete_stream_needs_message_stop_and_metadata() -> None:
    assert len(_run(START + TEXT + STOP + META)) == 3
    for cut in (START + TEXT, START + TEXT + STOP, START + TEXT + META):
        with pytest.raises(StreamInterruptedError):
            _run(cut)
    with pytest.raises(StreamInterruptedError):  # a partial frame left at EOF
        _run(START + TEXT + STOP + META[:-1])


def test_exception_events_raise_mapped_errors() -> None:
    translator = BedrockAdapter().chat_stream(_ctx())
    assert translator.feed(START + TEXT)
    with pytest.raises(RateLimitError):
        translator.feed(exception_frame("throttlingException", "Too many requests"))
    with pytest.raises(StreamInterruptedError, match="boom"):
        _run(START + exception_frame("modelStreamErrorException", "boom"))
    error = encode_message({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "x"}, b"")
    with pytest.raises(UpstreamStatusError):
        _run(START + error)


def test_corrupt_and_invalid_frames() -> None:
    frame = bytearray(TEXT)
    frame[-1] ^= 1
    with pytest.raises(StreamInterruptedError, match="corrupt"):
        _run(START + bytes(frame))
    with pytest.raises(StreamInterruptedError, match="invalid stream event"):
        _run(START + event_frame("contentBlockDelta", b'{"contentBlockIndex": 0, "de'))
    with pytest.raises(StreamInterruptedError):
        _run(START + event_frame("contentBlockDelta", {"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{"}}}))


def test_malformed_stop_reason_and_unknown_events() -> None:
    with pytest.raises(UpstreamStatusError):
        _run(START + event_frame("messageStop", {"stopReason": "malformed_tool_use"}))
    chunks = _run(START + event_frame("somethingNew", {"x": 1}) + TEXT + STOP + META)
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {"content": "hi"}, {}]


# --------------------------------------------------------------------------------------------- embeddings


def _embed_calls(model: str, request: dict[str, Any], mode: UnsupportedMode = "strict") -> list[dict[str, Any]]:
    ctx = _ctx(model, mode)
    return [orjson.loads(c.body) for c in BedrockAdapter().embeddings_calls({"model": "m", **request}, ctx)]


def test_titan_v2_one_call_per_input() -> None:
    bodies = _embed_calls("amazon.titan-embed-text-v2:0", {"input": ["a", "b"], "dimensions": 256})
    assert bodies == [
        {"inputText": "a", "dimensions": 256, "normalize": True},
        {"inputText": "b", "dimensions": 256, "normalize": True},
    ]
    single = BedrockAdapter().embeddings_call({"model": "m", "input": "a"}, _ctx("amazon.titan-embed-text-v2:0"))
    assert single.path == "/model/amazon.titan-embed-text-v2%3A0/invoke" and not single.stream
    with pytest.raises(UnsupportedParameterError) as info:
        BedrockAdapter().embeddings_call({"model": "m", "input": ["a", "b"]}, _ctx("amazon.titan-embed-text-v2:0"))
    assert info.value.param == "input"


def test_titan_v1_and_dimension_rules() -> None:
    assert _embed_calls("amazon.titan-embed-text-v1", {"input": "a"}) == [{"inputText": "a"}]
    with pytest.raises(UnsupportedParameterError):
        _embed_calls("amazon.titan-embed-text-v1", {"input": "a", "dimensions": 256})
    with pytest.raises(UnsupportedParameterError):
        _embed_calls("amazon.titan-embed-text-v2:0", {"input": "a", "dimensions": 100})
    assert _embed_calls("amazon.titan-embed-text-v2:0", {"input": "a", "dimensions": 100}, "warn") == [
        {"inputText": "a", "normalize": True}
    ]


def test_cohere_batches_and_input_type() -> None:
    texts = [f"t{i}" for i in range(100)]
    bodies = _embed_calls("cohere.embed-english-v3", {"input": texts, "input_type": "search_query"})
    assert [len(b["texts"]) for b in bodies] == [96, 4]
    assert bodies[0]["input_type"] == "search_query" and "embedding_types" not in bodies[0]
    v4 = _embed_calls("cohere.embed-v4:0", {"input": "x", "dimensions": 512, "encoding_format": "base64"})
    assert v4 == [
        {"texts": ["x"], "input_type": "search_document", "embedding_types": ["float"], "output_dimension": 512}
    ]
    with pytest.raises(InvalidRequestError):
        _embed_calls("cohere.embed-v4:0", {"input": "x", "input_type": "poem"})


def test_embedding_input_errors() -> None:
    with pytest.raises(InvalidRequestError):
        _embed_calls("cohere.embed-v4:0", {"input": [1, 2, 3]})
    with pytest.raises(InvalidRequestError, match="Titan and Cohere"):
        _embed_calls("anthropic.claude-v2", {"input": "x"})
    with pytest.raises(UnsupportedParameterError):
        _embed_calls("cohere.embed-v4:0", {"input": "x", "encoding_format": "int8"})


def test_embedding_responses_merge_in_order() -> None:
    ctx = _ctx("amazon.titan-embed-text-v2:0")
    bodies = [
        orjson.dumps({"embedding": [0.1, 0.2], "inputTextTokenCount": 3}),
        orjson.dumps({"embedding": [0.3, 0.4], "inputTextTokenCount": 4}),
    ]
    merged = BedrockAdapter().embeddings_responses(bodies, ctx)
    assert [d["embedding"] for d in merged["data"]] == [[0.1, 0.2], [0.3, 0.4]]
    assert [d["index"] for d in merged["data"]] == [0, 1] and merged["usage"]["prompt_tokens"] == 7
    CreateEmbeddingResponse.model_validate(merged)
    cohere = orjson.dumps({"embeddings": {"float": [[1.0], [2.0]]}, "id": "x", "response_type": "embeddings_by_type"})
    result = BedrockAdapter().embeddings_response(cohere, ctx, {"X-Amzn-Bedrock-Input-Token-Count": "9"})
    assert result["usage"] == {"prompt_tokens": 9, "total_tokens": 9} and len(result["data"]) == 2
    plain = BedrockAdapter().embeddings_response(orjson.dumps({"embeddings": [[1.0]]}), ctx)
    assert plain["usage"]["prompt_tokens"] == 0
    with pytest.raises(UpstreamStatusError):
        BedrockAdapter().embeddings_response(b'{"nothing": 1}', ctx)
