"""Traces from a real gateway process, exported over OTLP/HTTP to a fake collector, seen from the official
``openai`` SDK: the client's W3C trace context is continued, each upstream attempt is a GenAI CLIENT span whose
context the provider receives (also through translating clients and Bedrock's SigV4 signing), failovers show every
attempt, streams end their spans when they end, and no prompt or answer is in a span unless content capture is on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY

from wardgate.testing import Behavior, FakeAnthropic, FakeBedrock, FakeOpenAI, RecordedRequest
from wardgate.testing.fake_otlp import FakeOtlp, ReceivedSpan

pytestmark = pytest.mark.integration
KEY = "sk-fake-upstream-key-0123"
ANTHROPIC_KEY = "sk-ant-fake-key-0123"
AWS = ("AKIAFAKETRACING00001", "fake-aws-secret-for-tracing-tests")
OTLP_TOKEN = "otlp-export-token-0123456789"
MARKER = "zebra-quartz-7731"  # a prompt word that must never reach a span unless content capture is on


def new_trace() -> tuple[str, str, str]:
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01"


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeOtlp]:
    fake = FakeOtlp()
    runner = fake.run_in_thread()
    try:
        yield fake
    finally:
        runner.close()


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, Any]]:
    made: dict[str, Any] = {
        "openai": FakeOpenAI(api_key=KEY),
        "claude": FakeAnthropic(api_key=ANTHROPIC_KEY),
        "bedrock": FakeBedrock(access_key_id=AWS[0], secret_access_key=AWS[1], region="us-east-1"),
    }
    runners = [fake.run_in_thread() for fake in made.values()]
    try:
        yield made
    finally:
        for runner in runners:
            runner.close()


def config(fakes: dict[str, Any], collector: FakeOtlp, **tracing: Any) -> dict[str, Any]:
    settings = {
        "enabled": True,
        "endpoint": collector.url + "/v1/traces",
        "headers": {"x-api-key": OTLP_TOKEN},
        "export_interval_seconds": 0.1,
        **tracing,
    }
    return {
        "server": {"access_log": True, "breaker": {"enabled": False}},
        "observability": {"tracing": settings},
        "providers": [
            {"name": "one", "type": "openai", "base_url": fakes["openai"].base_url, "api_key": KEY},
            {"name": "claude", "type": "anthropic", "base_url": fakes["claude"].url, "api_key": ANTHROPIC_KEY},
            {
                "name": "bedrock",
                "type": "bedrock",
                "region": "us-east-1",
                "base_url": fakes["bedrock"].url,
                "access_key_id": AWS[0],
                "secret_access_key": AWS[1],
            },
        ],
        "models": [
            {"name": "chat", "deployments": [{"provider": "one", "model": "gpt-4o-mini"}]},
            {
                "name": "failover",
                "deployments": [
                    {"provider": "one", "model": "fo-a", "priority": 0},
                    {"provider": "one", "model": "fo-b", "priority": 1},
                ],
            },
            {"name": "claude", "deployments": [{"provider": "claude", "model": "claude-sonnet-4-5"}]},
            {"name": "bedrock", "deployments": [{"provider": "bedrock", "model": "amazon.nova-lite-v1:0"}]},
        ],
    }


@pytest.fixture(scope="module")
def gateway(
    fakes: dict[str, Any], collector: FakeOtlp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("tracing")
    process = GatewayProcess(workdir, config(fakes, collector), master_key=MASTER_KEY).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(gateway: GatewayProcess, fakes: dict[str, Any]) -> openai.OpenAI:
    for fake in fakes.values():
        fake.reset()
    return openai.OpenAI(base_url=gateway.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)


def spans_of(collector: FakeOtlp, trace_id: str, count: int) -> tuple[ReceivedSpan, list[ReceivedSpan]]:
    """The server span and the attempt spans (oldest first) of one trace, once ``count`` spans arrived."""
    found = collector.wait_for(lambda spans: sum(s.trace_id == trace_id for s in spans) >= count)
    mine = [s for s in found if s.trace_id == trace_id]
    assert len(mine) == count
    (server,) = [s for s in mine if s.kind == "server"]
    return server, sorted((s for s in mine if s.kind == "client"), key=lambda s: s.start_ns)


def sent_traceparent(request: RecordedRequest) -> tuple[str, str, str]:
    version, trace_id, parent_id, flags = request.headers["traceparent"].split("-")
    assert version == "00"
    return trace_id, parent_id, flags


def test_a_client_trace_continues_through_the_gateway_to_the_provider(
    client: openai.OpenAI, fakes: dict[str, Any], collector: FakeOtlp, gateway: GatewayProcess
) -> None:
    trace_id, parent_id, traceparent = new_trace()
    raw = client.chat.completions.with_raw_response.create(
        model="chat",
        messages=[{"role": "user", "content": f"hello {MARKER}"}],
        max_tokens=64,
        temperature=0.2,
        extra_headers={"traceparent": traceparent, "tracestate": "shop=checkout"},
    )
    answer = raw.parse()
    server, (attempt,) = spans_of(collector, trace_id, 2)
    assert server.name == "POST /v1/chat/completions" and server.parent_span_id == parent_id
    assert server.trace_state == "shop=checkout"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["wardgate.key_id"] == "master"
    assert server.attributes["wardgate.request_id"] == raw.headers["x-request-id"]
    assert server.resource["service.name"] == "wardgate"
    assert attempt.parent_span_id == server.span_id and attempt.name == "chat gpt-4o-mini"
    assert attempt.attributes["gen_ai.operation.name"] == "chat"
    assert attempt.attributes["gen_ai.provider.name"] == "openai"
    assert attempt.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attempt.attributes["gen_ai.response.model"] == answer.model
    assert attempt.attributes["gen_ai.request.max_tokens"] == 64
    assert attempt.attributes["gen_ai.request.temperature"] == 0.2
    assert answer.usage is not None
    assert attempt.attributes["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert attempt.attributes["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert server.start_ns <= attempt.start_ns <= attempt.end_ns <= server.end_ns
    upstream = fakes["openai"].last_request
    assert sent_traceparent(upstream) == (trace_id, attempt.span_id, "01")
    assert upstream.headers["tracestate"] == "shop=checkout"
    assert collector.requests[-1].headers["x-api-key"] == OTLP_TOKEN
    assert OTLP_TOKEN not in gateway.log()
    assert f'"trace_id":"{trace_id}"' in gateway.log()  # the access log line names the trace
    for span in (server, attempt):
        assert not any(MARKER in str(value) or MASTER_KEY in str(value) for value in span.attributes.values())
        assert not any(key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system_")) for key in span.attributes)


def test_a_request_without_trace_context_starts_a_trace(
    client: openai.OpenAI, fakes: dict[str, Any], collector: FakeOtlp
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    request_id = raw.headers["x-request-id"]
    found = collector.wait_for(lambda spans: any(s.attributes.get("wardgate.request_id") == request_id for s in spans))
    (server,) = [s for s in found if s.attributes.get("wardgate.request_id") == request_id]
    assert server.parent_span_id is None
    server, (attempt,) = spans_of(collector, server.trace_id, 2)
    assert sent_traceparent(fakes["openai"].last_request) == (server.trace_id, attempt.span_id, "01")


def test_a_failover_shows_both_attempts(client: openai.OpenAI, fakes: dict[str, Any], collector: FakeOtlp) -> None:
    fakes["openai"].script(Behavior(status=503, match_model="fo-a"))
    trace_id, _, traceparent = new_trace()
    answer = client.chat.completions.create(
        model="failover", messages=[{"role": "user", "content": "hi"}], extra_headers={"traceparent": traceparent}
    )
    assert answer.choices[0].message.content
    server, (first, second) = spans_of(collector, trace_id, 3)
    assert first.parent_span_id == second.parent_span_id == server.span_id
    assert first.attributes["gen_ai.request.model"] == "fo-a" and second.attributes["gen_ai.request.model"] == "fo-b"
    assert first.status == "error" and first.attributes["error.type"]
    assert first.attributes["http.response.status_code"] == 503
    assert "gen_ai.usage.input_tokens" not in first.attributes
    assert second.status == "unset" and "error.type" not in second.attributes
    assert second.attributes["gen_ai.usage.output_tokens"] > 0
    assert server.attributes["wardgate.attempts"] == 2 and server.status == "unset"
    sent = [r for r in fakes["openai"].requests if r.path.endswith("/chat/completions")]
    assert [sent_traceparent(r)[1] for r in sent] == [first.span_id, second.span_id]


def test_a_stream_span_ends_with_the_stream_and_carries_its_usage(
    client: openai.OpenAI, fakes: dict[str, Any], collector: FakeOtlp
) -> None:
    fakes["openai"].script(Behavior(chunks=6, chunk_interval=0.05, match_model="gpt-4o-mini"))
    trace_id, _, traceparent = new_trace()
    stream = client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        extra_headers={"traceparent": traceparent},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    server, (attempt,) = spans_of(collector, trace_id, 2)
    assert attempt.attributes["gen_ai.request.stream"] is True
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    assert 0 < attempt.attributes["gen_ai.response.time_to_first_chunk"] < 5
    assert attempt.end_ns - attempt.start_ns >= 200_000_000  # the whole stream, not just its first chunk
    assert attempt.end_ns <= server.end_ns and server.status == "unset"


def test_an_unsampled_client_trace_is_propagated_but_not_exported(
    client: openai.OpenAI, fakes: dict[str, Any], collector: FakeOtlp
) -> None:
    quiet, _, _ = new_trace()
    client.chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"traceparent": f"00-{quiet}-{os.urandom(8).hex()}-00"},
    )
    trace_id, _, flags = sent_traceparent(fakes["openai"].last_request)
    assert (trace_id, flags) == (quiet, "00")
    loud, _, traceparent = new_trace()
    client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"traceparent": traceparent}
    )
    spans_of(collector, loud, 2)  # exported after the first request's spans would have been
    assert not [s for s in collector.spans if s.trace_id == quiet]


@pytest.mark.parametrize("model", ["claude", "bedrock"])
def test_translating_providers_receive_the_trace_context(
    client: openai.OpenAI, fakes: dict[str, Any], collector: FakeOtlp, model: str
) -> None:
    trace_id, _, traceparent = new_trace()
    answer = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], extra_headers={"traceparent": traceparent}
    )
    assert answer.choices[0].message.content  # Bedrock's fake verified the SigV4 signature
    _, (attempt,) = spans_of(collector, trace_id, 2)
    assert attempt.attributes["gen_ai.provider.name"] == ("anthropic" if model == "claude" else "aws.bedrock")
    assert sent_traceparent(fakes[model].last_request) == (trace_id, attempt.span_id, "01")


@pytest.fixture(scope="module")
def capturing(
    fakes: dict[str, Any], collector: FakeOtlp, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("tracing-content")
    process = GatewayProcess(workdir, config(fakes, collector, capture_content=True), master_key=MASTER_KEY).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_content_is_recorded_only_when_capture_is_on(
    capturing: GatewayProcess, fakes: dict[str, Any], collector: FakeOtlp, stream: bool
) -> None:
    fakes["openai"].script(Behavior(content=f"the answer is {MARKER}", match_model="gpt-4o-mini"))
    client = openai.OpenAI(base_url=capturing.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)
    trace_id, _, traceparent = new_trace()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"tell me {MARKER}"}]
    if stream:
        chunks = client.chat.completions.create(
            model="chat", messages=messages, stream=True, extra_headers={"traceparent": traceparent}
        )
        assert MARKER in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        client.chat.completions.create(model="chat", messages=messages, extra_headers={"traceparent": traceparent})
    server, (attempt,) = spans_of(collector, trace_id, 2)
    assert f"tell me {MARKER}" in attempt.attributes["gen_ai.input.messages"]
    assert "Be brief." in attempt.attributes["gen_ai.system_instructions"]
    assert f"the answer is {MARKER}" in attempt.attributes["gen_ai.output.messages"]
    assert not any(MARKER in str(value) for value in server.attributes.values())
