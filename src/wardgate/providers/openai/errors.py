"""Map an OpenAI-format upstream error to the gateway's error tree.

Upstream 4xx caused by the request itself keep their status and message (the client can fix them); failures of the
gateway's own upstream credentials become 502 (the client's key was fine, the operator must act); rate limits keep
``Retry-After``; 5xx become 502/503. Messages are the upstream's text, never its URL; the caller scrubs secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import (
    GatewayError,
    QuotaExceededError,
    RateLimitError,
    UpstreamRejectedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

_FORWARDED_HEADERS = ("retry-after", "retry-after-ms")
_MAX_MESSAGE = 2000


def error_fields(body: bytes) -> tuple[str | None, str | None, str | None]:
    """``(message, code, param)`` from an OpenAI (or Azure) error body, tolerating anything."""
    try:
        parsed: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, None, None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, str):
        return error[:_MAX_MESSAGE], None, None
    if not isinstance(error, dict):
        return None, None, None
    message = error.get("message")
    code = error.get("code")
    param = error.get("param")
    return (
        message[:_MAX_MESSAGE] if isinstance(message, str) else None,
        str(code) if isinstance(code, str | int) else None,
        param if isinstance(param, str) else None,
    )


def map_openai_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    message, code, param = error_fields(body)
    forwarded = {name: headers[name] for name in _FORWARDED_HEADERS if name in headers}
    if status in (401, 403):
        return UpstreamStatusError(
            "the gateway's credentials for this provider were rejected; contact the gateway operator",
            code="upstream_auth_failed",
        )
    if status == 429 and code == "insufficient_quota":
        return QuotaExceededError(message or "the provider account's quota is exhausted", headers=forwarded)
    if status == 429:
        return RateLimitError(message or "the provider is rate limiting requests", code=code, headers=forwarded)
    if status == 408:
        return UpstreamTimeoutError(message or "the provider timed out")
    if status in (400, 404, 409, 413, 422):
        return UpstreamRejectedError(
            message or f"the provider rejected the request (HTTP {status})",
            status=status,
            param=param,
            code=code or "upstream_rejected",
        )
    if status == 503:
        return UpstreamUnavailableError(message or "the provider is unavailable", headers=forwarded)
    if 300 <= status < 400:
        return UpstreamStatusError("the provider answered with an unexpected redirect")
    return UpstreamStatusError(message or f"the provider failed (HTTP {status})", code=code)
