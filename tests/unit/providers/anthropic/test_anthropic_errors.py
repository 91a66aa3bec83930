"""Anthropic error bodies → the gateway's error tree: status for the OpenAI client, retryability for the router,
Retry-After kept, the gateway's own credential failures hidden, no URLs in messages."""

from __future__ import annotations

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from wardgate.core import errors
from wardgate.providers.anthropic import AnthropicAdapter, map_anthropic_error
from wardgate.providers.anthropic.errors import UpstreamQuotaError, clean_message, map_stream_error


def body(kind: str, message: str = "upstream says no") -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"})


@pytest.mark.parametrize(
    ("status", "kind", "cls", "http_status", "retryable", "code"),
    [
        (400, "invalid_request_error", errors.UpstreamRejectedError, 400, False, "upstream_rejected"),
        (401, "authentication_error", errors.UpstreamStatusError, 502, True, "upstream_auth_failed"),
        (402, "billing_error", UpstreamQuotaError, 502, False, "upstream_quota_exhausted"),
        (403, "permission_error", errors.UpstreamStatusError, 502, True, "upstream_auth_failed"),
        (404, "not_found_error", errors.UpstreamRejectedError, 404, False, "not_found"),
        (413, "request_too_large", errors.UpstreamRejectedError, 413, False, "request_too_large"),
        (422, "invalid_request_error", errors.UpstreamRejectedError, 422, False, "upstream_rejected"),
        (429, "rate_limit_error", errors.RateLimitError, 429, True, "rate_limit_exceeded"),
        (500, "api_error", errors.UpstreamStatusError, 502, True, "bad_gateway"),
        (504, "timeout_error", errors.UpstreamTimeoutError, 504, True, "upstream_timeout"),
        (529, "overloaded_error", errors.UpstreamUnavailableError, 503, True, "upstream_unavailable"),
    ],
)
def test_each_documented_error_type(
    status: int, kind: str, cls: type[errors.GatewayError], http_status: int, retryable: bool, code: str
) -> None:
    error = map_anthropic_error(status, body(kind), {})
    assert type(error) is cls
    assert (error.http_status, error.retryable, error.code) == (http_status, retryable, code)


@pytest.mark.parametrize("status", [401, 403])
def test_credential_failures_do_not_echo_the_upstream_message(status: int) -> None:
    error = map_anthropic_error(status, body("authentication_error", "invalid x-api-key sk-ant-abc"), {})
    assert "sk-ant" not in error.message and "x-api-key" not in error.message


def test_retry_after_is_kept_whatever_the_header_case() -> None:
    headers = CIMultiDictProxy(CIMultiDict({"Retry-After": "7", "anthropic-ratelimit-requests-limit": "50"}))
    error = map_anthropic_error(429, body("rate_limit_error"), headers)
    assert error.headers == {"retry-after": "7"}
    overloaded = map_anthropic_error(529, body("overloaded_error"), {"retry-after-ms": "250"})
    assert overloaded.headers == {"retry-after-ms": "250"}


def test_messages_lose_their_urls() -> None:
    message = (
        "This request would exceed the rate limit. For details, refer to: https://docs.claude.com/en/api/rate-limits. "
        "Please consult our documentation at https://docs.claude.com/x#y (or https://a.b/c)"
    )
    error = map_anthropic_error(429, body("rate_limit_error", message), {})
    assert "http" not in error.message
    assert error.message.startswith("This request would exceed the rate limit.")
    assert clean_message("x" * 5000) == "x" * 2000


def test_an_empty_credit_balance_is_quota_not_the_clients_fault() -> None:
    error = map_anthropic_error(400, body("invalid_request_error", "Your credit balance is too low to access"), {})
    assert isinstance(error, UpstreamQuotaError) and not error.retryable and error.http_status == 502


@pytest.mark.parametrize(
    ("status", "cls", "http_status"),
    [
        (400, errors.UpstreamRejectedError, 400),
        (401, errors.UpstreamStatusError, 502),
        (429, errors.RateLimitError, 429),
        (502, errors.UpstreamStatusError, 502),
        (503, errors.UpstreamUnavailableError, 503),
        (529, errors.UpstreamUnavailableError, 503),
        (408, errors.UpstreamTimeoutError, 504),
        (302, errors.UpstreamStatusError, 502),
    ],
)
def test_non_json_bodies_fall_back_to_the_status(status: int, cls: type[errors.GatewayError], http_status: int) -> None:
    error = map_anthropic_error(status, b"<html>bad gateway</html>", {})
    assert type(error) is cls and error.http_status == http_status
    assert "<html>" not in error.message


def test_the_status_wins_over_a_mismatched_body() -> None:
    error = map_anthropic_error(529, body("api_error", "Overloaded"), {})
    assert isinstance(error, errors.UpstreamUnavailableError)


def test_stream_errors_and_adapter_delegate() -> None:
    assert isinstance(
        map_stream_error({"type": "error", "error": {"type": "overloaded_error"}}), errors.UpstreamUnavailableError
    )
    assert isinstance(map_stream_error({"type": "error"}), errors.UpstreamStatusError)
    error = AnthropicAdapter().map_error(429, body("rate_limit_error"), {"retry-after": "3"})
    assert isinstance(error, errors.RateLimitError) and error.headers == {"retry-after": "3"}
    assert error.to_dict()["error"]["type"] == "rate_limit_error"
