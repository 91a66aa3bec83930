"""Every error status the gateway promises, seen through the official SDK's exception classes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY, UPSTREAM_KEY

from wardgate.testing import Behavior, FakeOpenAI

HI = [{"role": "user", "content": "hi"}]


def raw_post(gateway: GatewayProcess, path: str, body: bytes, key: str | None = MASTER_KEY) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(gateway.base_url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def assert_error_shape(body: dict) -> dict:
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in error["message"]
    return error


def test_malformed_json_is_400(gateway: GatewayProcess) -> None:
    status, body = raw_post(gateway, "/chat/completions", b'{"model": "sim-chat", "messages": [')
    assert status == 400
    error = assert_error_shape(body)
    assert error["type"] == "invalid_request_error" and "not valid JSON" in error["message"]


def test_missing_key_checked_before_body(gateway: GatewayProcess) -> None:
    status, body = raw_post(gateway, "/chat/completions", b"not json", key=None)
    assert status == 401
    assert assert_error_shape(body)["code"] == "missing_api_key"


def test_invalid_field_is_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="sim-chat", messages=[])
    assert info.value.body["param"] == "messages"  # type: ignore[index]


def test_invalid_key_is_authentication_error(gateway: GatewayProcess) -> None:
    bad = openai.OpenAI(base_url=gateway.base_url, api_key="wg-not-a-real-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="sim-chat", messages=HI)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="sim-embed", input="x")


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-99", messages=HI)
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-99")


def test_body_over_limit_is_413(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="sim-chat", messages=[{"role": "user", "content": "x" * 70_000}])
    assert info.value.status_code == 413
    assert info.value.code == "request_too_large"


def test_unknown_route_is_404_json(gateway: GatewayProcess) -> None:
    status, body = raw_post(gateway, "/nope", b"{}")
    assert status == 404 and assert_error_shape(body)["code"] == "unknown_url"


def test_upstream_500_is_502(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(status=500, times=3))  # the only deployment is tried three times (routing.max_attempts)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert info.value.status_code == 502


def test_unreachable_upstream_is_503(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="down", messages=HI)
    assert info.value.status_code == 503
    assert "127.0.0.1" not in info.value.message


def test_slow_upstream_is_504(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(latency=3.0, times=3))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert info.value.status_code == 504


def test_upstream_429_keeps_retry_after(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(status=429, headers={"Retry-After": "7"}))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert info.value.response.headers["retry-after"] == "7"


def test_upstream_400_passes_message_and_param(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    body = {
        "error": {
            "message": "Invalid value for 'temperature'",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }
    fake.script(Behavior(status=400, error_body=body))
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI, temperature=5)
    assert info.value.code == "invalid_value" and info.value.param == "temperature"
    assert "temperature" in info.value.message


def test_gateway_credential_rejected_upstream_is_502_without_secrets(
    client: openai.OpenAI, gateway: GatewayProcess
) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="badkey", messages=HI)
    assert info.value.status_code == 502 and info.value.code == "upstream_auth_failed"
    text = info.value.response.text
    assert "sk-wrong-key" not in text and "987654" not in text and UPSTREAM_KEY not in text


def test_upstream_malformed_json_is_502(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.script(Behavior(malformed=True, times=3))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert info.value.status_code == 502


def test_failover_to_next_deployment_when_first_is_down(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    reply = client.chat.completions.create(model="failover", messages=HI)
    assert reply.choices[0].message.content
    assert fake.last_request is not None


def test_logs_never_contain_secrets(gateway: GatewayProcess, client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="badkey", messages=HI)
    log = gateway.log()
    assert '"request"' in log
    for secret in (MASTER_KEY, UPSTREAM_KEY, "sk-wrong-key-987654"):
        assert secret not in log
