"""Map Anthropic errors (HTTP error bodies and ``event: error`` stream events) to the gateway's error tree.

Anthropic's error body is ``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`` with
these types (https://docs.anthropic.com/en/api/errors): invalid_request_error 400, authentication_error 401,
billing_error 402, permission_error 403, not_found_error 404, request_too_large 413, rate_limit_error 429
(retryable, ``retry-after`` kept), api_error 500 (retryable), timeout_error 504 (retryable), overloaded_error 529
(retryable; 503 for OpenAI clients, which know no 529). A 401/403 means the gateway's own key was refused: the
client gets a 502 that does not echo the upstream text. Messages are Anthropic's text with URLs removed.
"""

from __future__ import annotations

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

_FORWARDED_HEADERS = ("retry-after", "retry-after-ms")
_MAX_MESSAGE = 2000
_URL = re.compile(r"\s*\(?(?:see\s+)?https?://[^\s)]+\)?", re.IGNORECASE)
_STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",  # not documented by Anthropic, but what a proxy in front of it says when overloaded
    504: "timeout_error",
    529: "overloaded_error",
}
_REJECTED_CODES = {404: "not_found", 413: "request_too_large"}


class UpstreamQuotaError(UpstreamStatusError):
    """The operator's Anthropic account is out of credit (``billing_error``): retrying cannot help."""

    default_code = "upstream_quota_exhausted"
    retryable = False


def error_fields(body: bytes) -> tuple[str | None, str | None]:
    """``(type, message)`` from an Anthropic error body, tolerating anything."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None
    return _fields(parsed)


def _fields(parsed: Any) -> tuple[str | None, str | None]:
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None, None
    kind, message = error.get("type"), error.get("message")
    return (kind if isinstance(kind, str) else None), (clean_message(message) if isinstance(message, str) else None)


def clean_message(message: str) -> str:
    """Anthropic's message without URLs (documentation links, consoles), bounded in size."""
    return _URL.sub("", message).strip()[:_MAX_MESSAGE]


def map_anthropic_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """The gateway error for an Anthropic HTTP error response."""
    kind, message = error_fields(body)
    if 300 <= status < 400:
        return UpstreamStatusError("the provider answered with an unexpected redirect")
    if status in _STATUS_TYPES and status != 400:
        kind = _STATUS_TYPES[status]  # the status is authoritative; the body may be a proxy's
    return _build(kind or _STATUS_TYPES.get(status), status, message, _forwarded(headers))


def map_stream_error(payload: Mapping[str, Any]) -> GatewayError:
    """The gateway error for an ``event: error`` received after the stream started (no HTTP status)."""
    kind, message = _fields(payload)
    return _build(kind, None, message, {})


def _build(kind: str | None, status: int | None, message: str | None, forwarded: dict[str, str]) -> GatewayError:
    if kind in ("authentication_error", "permission_error"):
        return UpstreamStatusError(
            "the gateway's credentials for this provider were rejected; contact the gateway operator",
            code="upstream_auth_failed",
        )
    if kind == "rate_limit_error":
        return RateLimitError(message or "the provider is rate limiting requests", headers=forwarded)
    if kind == "overloaded_error":
        return UpstreamUnavailableError(message or "the provider is overloaded", headers=forwarded)
    if kind == "timeout_error":
        return UpstreamTimeoutError(message or "the provider timed out")
    if kind == "billing_error" or (message is not None and "credit balance" in message.lower()):
        # Anthropic reports an empty prepaid balance as a 400 invalid_request_error "Your credit balance is too low"
        return UpstreamQuotaError("the gateway's account with this provider has no credit left; contact the operator")
    if kind in ("invalid_request_error", "not_found_error", "request_too_large") or (
        status is not None and 400 <= status < 500
    ):
        code = 400 if status is None or not 400 <= status < 500 else status
        return UpstreamRejectedError(
            message or f"the provider rejected the request (HTTP {code})",
            status=code,
            code=_REJECTED_CODES.get(code, "upstream_rejected"),
        )
    suffix = f" (HTTP {status})" if status else ""
    return UpstreamStatusError(message or f"the provider failed{suffix}")


def _forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _FORWARDED_HEADERS:
            out[lower] = value
    return out
