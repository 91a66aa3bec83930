"""FakeBedrock driven by the official SDK (boto3 ``bedrock-runtime``: converse, converse_stream, invoke_model),
its answers validated against botocore's output shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from botocore.validate import ParamValidator

from wardgate.providers.bedrock.eventstream import EventStreamDecoder
from wardgate.testing import Behavior, FakeServerThread, ToolCall
from wardgate.testing.fake_bedrock import FakeBedrock

KEY_ID, SECRET, REGION = "AKIDBOTO", "boto-secret", "us-west-2"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
PROFILE = "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/abcdef123456"
USER = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "lookup",
                "description": "Look up a fact",
                "inputSchema": {
                    "json": {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}
                },
            }
        }
    ]
}


@pytest.fixture(scope="module")
def runner() -> Iterator[FakeServerThread]:
    thread = FakeBedrock(access_key_id=KEY_ID, secret_access_key=SECRET, region=REGION).run_in_thread()
    yield thread
    thread.close()


@pytest.fixture
def fake(runner: FakeServerThread) -> FakeBedrock:
    fake = runner.fake
    assert isinstance(fake, FakeBedrock)
    fake.reset()
    return fake


def _client(fake: FakeBedrock, secret: str = SECRET, key_id: str = KEY_ID, region: str = REGION) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


def _validate(shape_name: str, value: Any) -> None:
    shape = (
        boto3.session.Session().client("bedrock-runtime", region_name=REGION).meta.service_model.shape_for(shape_name)
    )
    report = ParamValidator().validate(value, shape)
    assert not report.has_errors(), report.generate_report()


def test_converse_text(fake: FakeBedrock) -> None:
    response = _client(fake).converse(
        modelId=MODEL,
        messages=USER,
        system=[{"text": "Be brief."}],
        inferenceConfig={"maxTokens": 4, "temperature": 0.5},
    )
    assert response["output"]["message"]["content"] == [{"text": "Hello! This is a"}]
    assert response["stopReason"] == "max_tokens" and response["usage"]["outputTokens"] == 4
    raw = fake.last_request
    assert raw is not None and raw.path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"


def test_raw_converse_body_fits_the_output_shape(fake: FakeBedrock) -> None:
    fake.script(Behavior(tool_calls=[ToolCall("lookup", {"topic": "a"}), ToolCall("lookup", {"topic": "b"})]))
    response = _client(fake).converse(modelId=PROFILE, messages=USER, toolConfig=TOOLS)
    uses = [b["toolUse"] for b in response["output"]["message"]["content"]]
    assert [u["input"]["topic"] for u in uses] == ["a", "b"] and response["stopReason"] == "tool_use"
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    _validate("ConverseResponse", body)


def test_converse_stream_with_forced_tool(fake: FakeBedrock) -> None:
    response = _client(fake).converse_stream(
        modelId=PROFILE, messages=USER, toolConfig={**TOOLS, "toolChoice": {"tool": {"name": "lookup"}}}
    )
    events = list(response["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[1] == "contentBlockStart" and kinds[-2:] == ["messageStop", "metadata"]
    arguments = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert set(json.loads(arguments)) == {"topic"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    assert events[-1]["metadata"]["usage"]["totalTokens"] > 0


def test_stream_frames_fit_the_event_shapes(fake: FakeBedrock) -> None:
    fake.script(Behavior(content="one two three", chunks=3))
    client = _client(fake)
    response = client.converse_stream(
        modelId=MODEL,
        messages=USER,
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
        inferenceConfig={"maxTokens": 2048},
    )
    raw = response["stream"]._raw_stream.read()  # the exact bytes, framed as Bedrock frames them
    messages = EventStreamDecoder().feed(raw)
    shapes = client.meta.service_model.shape_for("ConverseStreamOutput").members
    for message in messages:
        payload = orjson.loads(message.payload)
        payload.pop("p")  # Bedrock's unmodelled padding member
        _validate(shapes[message.headers[":event-type"]].name, payload)
    texts = [orjson.loads(m.payload)["delta"] for m in messages if m.headers[":event-type"] == "contentBlockDelta"]
    assert texts[0] == {"reasoningContent": {"text": "The user asked a"}}
    assert [t["text"] for t in texts if "text" in t] == ["one", " two", " three"]


@pytest.mark.parametrize(
    ("model", "body", "key"),
    [
        ("amazon.titan-embed-text-v2:0", {"inputText": "hello", "dimensions": 256}, "embedding"),
        ("amazon.titan-embed-text-v1", {"inputText": "hello"}, "embedding"),
        ("cohere.embed-english-v3", {"texts": ["a", "b"], "input_type": "search_query"}, "embeddings"),
        ("cohere.embed-v4:0", {"texts": ["a"], "input_type": "clustering", "embedding_types": ["float"]}, "embeddings"),
    ],
)
def test_invoke_model_embeddings(fake: FakeBedrock, model: str, body: dict[str, Any], key: str) -> None:
    response = _client(fake).invoke_model(modelId=model, body=json.dumps(body), contentType="application/json")
    parsed = json.loads(response["body"].read())
    assert key in parsed
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) > 0
    if model.startswith("amazon.titan-embed-text-v2"):
        assert len(parsed["embedding"]) == 256 and parsed["inputTextTokenCount"] == 2
    if model == "cohere.embed-v4:0":
        assert len(parsed["embeddings"]["float"][0]) == 1536


def test_invoke_model_rejects_bad_bodies(fake: FakeBedrock) -> None:
    client = _client(fake)
    with pytest.raises(client.exceptions.ValidationException, match="extraneous key"):
        client.invoke_model(
            modelId="amazon.titan-embed-text-v1", body=json.dumps({"inputText": "a", "dimensions": 256})
        )
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId="cohere.embed-english-v3", body=json.dumps({"texts": ["a"]}))
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId="anthropic.claude-v2", body=b"{}")


@pytest.mark.parametrize(
    ("status", "headers", "exception"),
    [
        (400, {}, "ValidationException"),
        (403, {}, "AccessDeniedException"),
        (404, {}, "ResourceNotFoundException"),
        (408, {}, "ModelTimeoutException"),
        (424, {}, "ModelErrorException"),
        (429, {}, "ThrottlingException"),
        (429, {"x-amzn-ErrorType": "ModelNotReadyException"}, "ModelNotReadyException"),
        (400, {"x-amzn-ErrorType": "ServiceQuotaExceededException"}, "ServiceQuotaExceededException"),
        (500, {}, "InternalServerException"),
        (503, {}, "ServiceUnavailableException"),
    ],
)
def test_scripted_errors_are_the_sdk_exceptions(
    fake: FakeBedrock, status: int, headers: dict[str, str], exception: str
) -> None:
    fake.script(Behavior(status=status, headers=headers))
    client = _client(fake)
    with pytest.raises(ClientError) as info:
        client.converse(modelId=MODEL, messages=USER)
    assert info.value.response["Error"]["Code"] == exception
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert isinstance(info.value, getattr(client.exceptions, exception))


def test_mid_stream_exception_reaches_the_sdk(fake: FakeBedrock) -> None:
    fake.script(Behavior(status=429, disconnect_after=3))
    response = _client(fake).converse_stream(modelId=MODEL, messages=USER)
    seen = []
    with pytest.raises(EventStreamError) as info:
        for event in response["stream"]:
            seen.append(event)
    assert len(seen) == 3 and info.value.response["Error"]["Code"] == "throttlingException"


def test_signature_failures(fake: FakeBedrock) -> None:
    cases = [
        (_client(fake, secret="nope"), "InvalidSignatureException"),
        (_client(fake, key_id="AKIDOTHER"), "UnrecognizedClientException"),
        (_client(fake, region="us-east-1"), "InvalidSignatureException"),
    ]
    for client, code in cases:
        with pytest.raises(ClientError) as info:
            client.converse(modelId=MODEL, messages=USER)
        assert info.value.response["Error"]["Code"] == code
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert fake.request_count == 3  # recorded, never answered


@pytest.mark.parametrize(
    ("messages", "extra", "fragment"),
    [
        ([{"role": "assistant", "content": [{"text": "hi"}]}], {}, "must start with a user message"),
        ([*USER, *USER], {}, "must alternate between user and assistant"),
        ([{"role": "user", "content": [{"text": "  "}]}], {}, "is blank"),
        ([{"role": "user", "content": []}], {}, "is empty"),
        (
            [
                *USER,
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {}}}]},
                {"role": "user", "content": [{"text": "no result"}]},
            ],
            {"toolConfig": TOOLS},
            "Expected toolResult blocks at messages.2.content for the following Ids: t1",
        ),
        (
            [
                *USER,
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {}}}]},
            ],
            {},
            "toolConfig field must be defined",
        ),
        (
            [{"role": "user", "content": [{"toolResult": {"toolUseId": "zz", "content": [{"text": "r"}]}}]}],
            {"toolConfig": TOOLS},
            "exceeds the number of toolUse blocks",
        ),
        (USER, {"inferenceConfig": {"temperature": 1.5}}, "less than or equal to 1"),
        (USER, {"toolConfig": {**TOOLS, "toolChoice": {"tool": {"name": "nope"}}}}, "not defined"),
        (
            USER,
            {
                "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2000}},
                "inferenceConfig": {"maxTokens": 1000},
            },
            "greater than `thinking.budget_tokens`",
        ),
    ],
)
def test_validation_like_bedrock(fake: FakeBedrock, messages: list[Any], extra: dict[str, Any], fragment: str) -> None:
    client = _client(fake)
    with pytest.raises(client.exceptions.ValidationException, match=fragment.replace("`", ".")):
        client.converse(modelId=MODEL, messages=messages, **extra)
