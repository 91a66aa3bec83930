"""Map Google API errors (Gemini API and Vertex AI) to the gateway's error tree.

Google answers ``{"error": {"code": 429, "message": "…", "status": "RESOURCE_EXHAUSTED", "details": [...]}}``
(Vertex sometimes wraps it in a one-element list). Status → class, following
https://ai.google.dev/gemini-api/docs/troubleshooting and https://cloud.google.com/apis/design/errors:
INVALID_ARGUMENT / FAILED_PRECONDITION 400 and NOT_FOUND 404 are the request's fault (not retryable);
UNAUTHENTICATED 401, PERMISSION_DENIED 403 and an invalid API key (400 with ``reason: API_KEY_INVALID``) mean the
gateway's credential is wrong (502 ``upstream_auth_failed``, upstream text not echoed); RESOURCE_EXHAUSTED 429 is
a rate limit (``RetryInfo.retryDelay`` becomes ``Retry-After``); INTERNAL 500, UNAVAILABLE 503 and
DEADLINE_EXCEEDED 504 are retryable. Messages lose any URL Google puts in them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import (
    GatewayError,
    RateLimitError,
    UpstreamRejectedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

_STATUS_CODES = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED"})
_URL = re.compile(r"https?://\S+")
_MAX_MESSAGE = 2000
_AUTH_MESSAGE = "the gateway's credentials for this provider were rejected; contact the gateway operator"


def error_object(body: bytes) -> dict[str, Any] | None:
    """The ``error`` object of a Google error body (plain or wrapped in a list), or None."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, list) and parsed:
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else None


def map_google_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    return error_from_object(status, error_object(body) or {}, headers)


def error_from_object(status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> GatewayError:
    """Map one Google ``error`` object. ``status`` is the HTTP status (0 when unknown: an in-stream error)."""
    grpc_status = error.get("status") if isinstance(error.get("status"), str) else None
    if not status:
        code = error.get("code")
        status = code if isinstance(code, int) and 100 <= code <= 599 else _STATUS_CODES.get(grpc_status or "", 500)
    message = _clean(error.get("message"))
    raw_details = error.get("details")
    details: list[Any] = raw_details if isinstance(raw_details, list) else []
    if status in (401, 403) or _reasons(details) & _AUTH_REASONS:
        return UpstreamStatusError(_AUTH_MESSAGE, code="upstream_auth_failed")
    if status == 429:
        return RateLimitError(
            message or "the provider is rate limiting requests",
            code=(grpc_status or "resource_exhausted").lower(),
            headers=_retry_headers(details, headers),
        )
    if status in (400, 404, 409, 413, 422):
        return UpstreamRejectedError(
            message or f"the provider rejected the request (HTTP {status})",
            status=status,
            code=(grpc_status or "upstream_rejected").lower(),
        )
    if status in (408, 504):
        return UpstreamTimeoutError(message or "the provider timed out")
    if status == 503:
        retry = _retry_headers(details, headers)
        return UpstreamUnavailableError(message or "the provider is unavailable", headers=retry)
    if 300 <= status < 400:
        return UpstreamStatusError("the provider answered with an unexpected redirect")
    code = grpc_status.lower() if grpc_status else None
    return UpstreamStatusError(message or f"the provider failed (HTTP {status})", code=code)


def _clean(message: Any) -> str | None:
    if not isinstance(message, str) or not message.strip():
        return None
    return _URL.sub("[link removed]", message).strip()[:_MAX_MESSAGE]


def _reasons(details: list[Any]) -> set[str]:
    return {d["reason"] for d in details if isinstance(d, dict) and isinstance(d.get("reason"), str)}


def _retry_headers(details: list[Any], headers: Mapping[str, str]) -> dict[str, str]:
    """``Retry-After`` from the upstream header, else from ``google.rpc.RetryInfo`` (``"37s"``, ``"1.5s"``)."""
    for name in ("retry-after", "Retry-After"):
        if name in headers:
            return {"retry-after": headers[name]}
    for detail in details:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                continue
            return {"retry-after": str(max(1, math.ceil(seconds)))}
    return {}
