"""FakeBedrock's CountTokens route driven by boto3 (``bedrock-runtime`` ``count_tokens``): SigV4-checked, validated
against botocore's service model, answering ``inputTokens``; models AWS cannot count for are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from wardgate.testing import FakeServerThread
from wardgate.testing.fake_bedrock import FakeBedrock

KEY_ID, SECRET, REGION = "AKIDCOUNT", "count-secret", "us-west-2"
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
CONVERSE = {
    "system": [{"text": "Be brief."}],
    "messages": [{"role": "user", "content": [{"text": "What is the capital of France?"}]}],
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


def _client(fake: FakeBedrock, secret: str = SECRET) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=fake.url,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_count_converse_input(fake: FakeBedrock) -> None:
    answer = _client(fake).count_tokens(modelId=MODEL, input={"converse": CONVERSE})
    assert answer["inputTokens"] == 10  # "Be brief." + the question: 39 characters
    recorded = fake.last_request
    assert recorded is not None and recorded.path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/count-tokens"
    assert recorded.json == {"input": {"converse": CONVERSE}}


def test_count_invoke_model_input(fake: FakeBedrock) -> None:
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": []}).encode()
    answer = _client(fake).count_tokens(modelId=MODEL, input={"invokeModel": {"body": body}})
    assert answer["inputTokens"] == len(body) // 4


@pytest.mark.parametrize("model", ["us." + MODEL, "amazon.nova-pro-v1:0"])
def test_models_that_cannot_count_are_refused(fake: FakeBedrock, model: str) -> None:
    with pytest.raises(ClientError) as info:
        _client(fake).count_tokens(modelId=model, input={"converse": CONVERSE})
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "doesn't support counting tokens" in info.value.response["Error"]["Message"]


def test_invalid_input_and_signature(fake: FakeBedrock) -> None:
    bad = {"converse": {"messages": [{"role": "assistant", "content": [{"text": "first"}]}]}}
    with pytest.raises(ClientError) as invalid:
        _client(fake).count_tokens(modelId=MODEL, input=bad)
    assert invalid.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as denied:
        _client(fake, secret="wrong").count_tokens(modelId=MODEL, input={"converse": CONVERSE})
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
