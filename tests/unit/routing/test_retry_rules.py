"""Retry classification (through the real provider error mappers), context-length detection, Retry-After parsing
(seconds, HTTP date, retry-after-ms), full-jitter backoff bounds and the retry budget's arithmetic."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from wardgate.core.errors import AuthenticationError, GatewayError, InvalidRequestError, UpstreamTimeoutError
from wardgate.providers.anthropic.errors import map_anthropic_error
from wardgate.providers.bedrock.errors import map_bedrock_error
from wardgate.providers.gemini.errors import map_google_error
from wardgate.providers.openai.errors import map_openai_error
from wardgate.routing.retry import RetryBudget, backoff, classify, is_context_length, retry_after_seconds


def openai_error(status: int, code: str | None = None, message: str = "x", **headers: str) -> GatewayError:
    body = orjson.dumps({"error": {"message": message, "type": "t", "param": None, "code": code}})
    return map_openai_error(status, body, headers)


def anthropic_error(status: int, kind: str, message: str = "x") -> GatewayError:
    return map_anthropic_error(status, orjson.dumps({"type": "error", "error": {"type": kind, "message": message}}), {})


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (openai_error(429, "rate_limit_exceeded"), True),
        (openai_error(408), True),
        (openai_error(500), True),
        (openai_error(502), True),
        (openai_error(503), True),
        (openai_error(504), True),
        (anthropic_error(529, "overloaded_error"), True),
        (anthropic_error(500, "api_error"), True),
        (UpstreamTimeoutError("provider p did not answer in time"), True),
        (openai_error(400, "invalid_value"), False),
        (openai_error(401), True),  # the gateway's own credential: another deployment may have a good one
        (openai_error(403), True),
        (openai_error(404, "model_not_found"), False),
        (openai_error(413), False),
        (openai_error(422), False),
        (openai_error(429, "insufficient_quota"), False),
        (anthropic_error(400, "invalid_request_error", "Your credit balance is too low"), False),
        (AuthenticationError("bad key"), False),
        (InvalidRequestError("bad body"), False),
    ],
)
def test_classification(error: GatewayError, retry: bool) -> None:
    verdict = classify(error, time.time())
    assert verdict.retry is retry and not verdict.context


def test_a_refused_credential_moves_on_but_never_retries_the_same_deployment() -> None:
    verdict = classify(openai_error(401), time.time())
    assert verdict.retry and not verdict.same_deployment and verdict.fault


def test_exhausted_quota_is_the_deployments_fault_but_not_retried() -> None:
    verdict = classify(openai_error(429, "insufficient_quota"), time.time())
    assert verdict.fault and not verdict.retry
    assert not classify(openai_error(400, "invalid_value"), time.time()).fault


@pytest.mark.parametrize(
    "error",
    [
        openai_error(400, "context_length_exceeded", "This model's maximum context length is 8192 tokens"),
        anthropic_error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
        map_google_error(
            400,
            orjson.dumps(
                {
                    "error": {
                        "code": 400,
                        "status": "INVALID_ARGUMENT",
                        "message": "The input token count (1200000) exceeds the maximum number of tokens allowed "
                        "(1048576).",
                    }
                }
            ),
            {},
        ),
        map_bedrock_error(
            400, b'{"message": "Input is too long for requested model."}', {"x-amzn-ErrorType": "ValidationException"}
        ),
    ],
)
def test_context_length_refusals_of_every_provider_are_recognised(error: GatewayError) -> None:
    assert is_context_length(error)
    verdict = classify(error, time.time())
    assert verdict.context and not verdict.retry and not verdict.fault


def test_other_refusals_are_not_context_length() -> None:
    assert not is_context_length(openai_error(400, "invalid_value", "temperature must be at most 2"))
    assert not is_context_length(openai_error(500, None, "context length service crashed"))  # not a refusal


def test_retry_after_from_the_mappers_reaches_the_verdict() -> None:
    assert classify(openai_error(429, "rate_limit_exceeded", **{"retry-after-ms": "250"}), time.time()).wait == 0.25
    assert classify(openai_error(503, **{"retry-after": "3"}), time.time()).wait == 3.0
    assert classify(openai_error(429), time.time()).wait is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": " 1.5 "}, 1.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "120"}, 0.12),
        ({"retry-after-ms": "120", "retry-after": "1"}, 0.12),  # the precise one wins
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "later"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00"}, None),  # a date without a zone is not a date we trust
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, time.time()) == expected


def test_retry_after_as_an_http_date() -> None:
    now = time.time()
    later = format_datetime(datetime.fromtimestamp(now, UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after_seconds({"retry-after": later}, now) or 0) <= 30
    earlier = format_datetime(datetime.fromtimestamp(now, UTC) - timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds({"retry-after": earlier}, now) == 0.0


def test_full_jitter_backoff_stays_within_its_bounds() -> None:
    rng = random.Random(5)
    for retry, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.6), (6, 2.0), (60, 2.0)):
        draws = [backoff(retry, 0.1, 2.0, rng) for _ in range(2000)]
        assert min(draws) >= 0 and max(draws) <= ceiling
        assert max(draws) > ceiling * 0.95 and min(draws) < ceiling * 0.05  # spread over the whole range
        assert abs(sum(draws) / len(draws) - ceiling / 2) < ceiling * 0.05


def test_retry_budget_is_a_share_of_requests_in_flight_with_a_floor() -> None:
    budget = RetryBudget(ratio=0.2, minimum=3)
    for _ in range(30):
        budget.enter()
    granted = sum(budget.try_retry() for _ in range(10))
    assert granted == 6 and budget.denied == 4  # 20 % of 30
    for _ in range(6):
        budget.done_retry()
    for _ in range(28):
        budget.leave()
    assert sum(budget.try_retry() for _ in range(5)) == 3  # two requests in flight: the floor of 3
    budget.configure(0.5, 0)
    assert not budget.try_retry()  # 3 retries in flight already, 50 % of 2 is 1
