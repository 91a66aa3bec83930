"""Google error bodies → the gateway's error tree (status, code, retryable, no upstream secrets or URLs)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from wardgate.core import errors
from wardgate.providers.gemini import GeminiAdapter
from wardgate.testing.fake_gemini import errors as fake_errors


def body(code: int, status: str, message: str = "upstream says no", details: list[Any] | None = None) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details is not None:
        error["details"] = details
    return orjson.dumps({"error": error})


def mapped(status: int, raw: bytes, headers: dict[str, str] | None = None) -> errors.GatewayError:
    return GeminiAdapter().map_error(status, raw, CIMultiDictProxy(CIMultiDict(headers or {})))


@pytest.mark.parametrize(
    ("status", "grpc", "cls", "http", "retryable"),
    [
        (400, "INVALID_ARGUMENT", errors.UpstreamRejectedError, 400, False),
        (400, "FAILED_PRECONDITION", errors.UpstreamRejectedError, 400, False),
        (404, "NOT_FOUND", errors.UpstreamRejectedError, 404, False),
        (413, "INVALID_ARGUMENT", errors.UpstreamRejectedError, 413, False),
        (429, "RESOURCE_EXHAUSTED", errors.RateLimitError, 429, True),
        (500, "INTERNAL", errors.UpstreamStatusError, 502, True),
        (503, "UNAVAILABLE", errors.UpstreamUnavailableError, 503, True),
        (504, "DEADLINE_EXCEEDED", errors.UpstreamTimeoutError, 504, True),
    ],
)
def test_status_mapping(status: int, grpc: str, cls: type[errors.GatewayError], http: int, retryable: bool) -> None:
    error = mapped(status, body(status, grpc))
    assert type(error) is cls
    assert error.http_status == http
    assert error.retryable is retryable
    assert error.message == "upstream says no"


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (401, fake_errors.unauthenticated()),
        (403, fake_errors.missing_api_key()),
        (400, fake_errors.invalid_api_key()),
        (403, {"error": {"code": 403, "message": "key AIzaSyD-secret is blocked", "status": "PERMISSION_DENIED"}}),
    ],
)
def test_credential_failures_are_502_without_upstream_text(status: int, raw: dict[str, Any]) -> None:
    error = mapped(status, orjson.dumps(raw))
    assert isinstance(error, errors.UpstreamStatusError)
    assert error.http_status == 502
    assert error.code == "upstream_auth_failed"
    assert "API key" not in error.message and "AIza" not in error.message
    assert not error.retryable or error.code == "upstream_auth_failed"


def test_retry_info_becomes_retry_after() -> None:
    error = mapped(429, orjson.dumps(fake_errors.rate_limited("gemini", "gemini-2.5-flash")))
    assert isinstance(error, errors.RateLimitError)
    assert error.headers == {"retry-after": "7"}
    assert "http" not in error.message
    fractional = body(429, "RESOURCE_EXHAUSTED", details=[{"@type": "x.RetryInfo", "retryDelay": "1.2s"}])
    assert mapped(429, fractional).headers == {"retry-after": "2"}
    assert mapped(429, fractional, {"Retry-After": "30"}).headers == {"retry-after": "30"}
    assert mapped(503, body(503, "UNAVAILABLE"), {"Retry-After": "5"}).headers == {"retry-after": "5"}


def test_urls_are_removed_from_messages() -> None:
    raw = body(400, "INVALID_ARGUMENT", "bad thing, see https://ai.google.dev/x?key=AIza123 for details")
    message = mapped(400, raw).message
    assert "https://" not in message and "AIza" not in message
    assert message.startswith("bad thing, see")


def test_odd_bodies() -> None:
    assert mapped(500, b"<html>oops</html>").message == "the provider failed (HTTP 500)"
    assert isinstance(mapped(502, b""), errors.UpstreamStatusError)
    listed = orjson.dumps([{"error": {"code": 400, "message": "wrapped", "status": "INVALID_ARGUMENT"}}])
    assert mapped(400, listed).message == "wrapped"
    assert mapped(302, b"").message == "the provider answered with an unexpected redirect"
    assert len(mapped(400, body(400, "INVALID_ARGUMENT", "x" * 5000)).message) == 2000
    assert mapped(400, body(400, "INVALID_ARGUMENT")).code == "invalid_argument"
