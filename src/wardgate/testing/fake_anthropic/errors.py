"""Error bodies exactly as Anthropic sends them (https://docs.anthropic.com/en/api/errors): pure functions.

``{"type": "error", "error": {"type": ..., "message": ...}, "request_id": "req_..."}``.
"""

from __future__ import annotations

from typing import Any

from wardgate.testing.wire import random_id

JSONDict = dict[str, Any]

STATUS_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_DEFAULT_MESSAGES = {
    "invalid_request_error": "Invalid request.",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to "
    "upgrade or purchase credits.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not Found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed the rate limit for your organization of 50 requests per minute. "
    "For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
    "current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def error_body(kind: str, message: str) -> JSONDict:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": random_id("req_", 24)}


def invalid_request(message: str) -> JSONDict:
    return error_body("invalid_request_error", message)


def default_error(status: int) -> JSONDict:
    """What Anthropic sends for ``status`` when a script gives no explicit error body."""
    kind = STATUS_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return error_body(kind, _DEFAULT_MESSAGES[kind])


def missing_api_key() -> JSONDict:
    return error_body("authentication_error", "x-api-key header is required")


def invalid_api_key() -> JSONDict:
    return error_body("authentication_error", "invalid x-api-key")


def missing_version() -> JSONDict:
    return invalid_request("anthropic-version: header is required")


def invalid_version(value: str) -> JSONDict:
    return invalid_request(f"anthropic-version: invalid version {value!r}")


def model_not_found(model: str) -> JSONDict:
    return error_body("not_found_error", f"model: {model}")


def not_found() -> JSONDict:
    return error_body("not_found_error", "Not Found")
