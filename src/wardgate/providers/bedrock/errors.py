"""Map Bedrock Runtime errors (HTTP answers and ConverseStream exception events) to the gateway's error tree.

Bedrock is a rest-json AWS service: an error is an HTTP status, a JSON body ``{"message": "..."}`` and the error
type in the ``x-amzn-ErrorType`` header (``ThrottlingException:http://internal.amazon.com/coral/...``); some front
ends put it in the body's ``__type`` instead. Statuses and types are those of botocore's
``bedrock-runtime/2023-09-30/service-2.json``; the error list is at
https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html#API_runtime_Converse_Errors.
Inside a ConverseStream the same exceptions arrive as event-stream messages with ``:message-type: exception`` and
``:exception-type`` in lowerCamelCase (``throttlingException``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from wardgate.core.errors import (
    GatewayError,
    QuotaExceededError,
    RateLimitError,
    StreamInterruptedError,
    UpstreamRejectedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

_MAX_MESSAGE = 2000
_FORWARDED_HEADERS = ("retry-after",)

# 401/403 error types that mean the gateway's AWS credentials (or their permissions) are wrong.
AUTH_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)


def error_type(body: bytes, headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(error type, message)`` from a Bedrock error answer, tolerating anything."""
    kind = _header(headers, "x-amzn-errortype")
    parsed: Any = None
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    message: str | None = None
    if isinstance(parsed, dict):
        raw = parsed.get("message", parsed.get("Message"))
        message = raw[:_MAX_MESSAGE] if isinstance(raw, str) and raw else None
        if kind is None:
            for key in ("__type", "code"):
                if isinstance(parsed.get(key), str):
                    kind = parsed[key]
                    break
    if kind is not None:
        kind = kind.split(":", 1)[0].rsplit("#", 1)[-1].strip() or None
    return kind, message


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, item in headers.items():
            if key.lower() == name:
                return item
    return value


def map_bedrock_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    kind, message = error_type(body, headers)
    forwarded = {name: value for name in _FORWARDED_HEADERS if (value := _header(headers, name)) is not None}
    if kind in AUTH_ERRORS or status in (401, 403):
        return _auth_failed()
    builder = _BY_TYPE.get(kind or "")
    if builder is not None:
        return builder(message, forwarded)
    return _by_status(status, message, forwarded)


def map_stream_exception(exception_type: str, payload: bytes) -> GatewayError:
    """The error for a ConverseStream exception event (``:exception-type`` such as ``throttlingException``)."""
    kind = exception_type[:1].upper() + exception_type[1:]
    _, message = error_type(payload, {})
    if kind in AUTH_ERRORS:
        return _auth_failed()
    if kind == "ModelStreamErrorException":
        return StreamInterruptedError(message or "the model failed while streaming its answer")
    builder = _BY_TYPE.get(kind)
    if builder is not None:
        return builder(message, {})
    return UpstreamStatusError(message or f"the provider ended the stream with {kind or 'an error'}")


def _auth_failed() -> GatewayError:
    # Never echo the upstream text: it names the access key id or the signing details.
    return UpstreamStatusError(
        "the gateway's AWS credentials for this provider were rejected; contact the gateway operator",
        code="upstream_auth_failed",
    )


_Builder = Callable[[str | None, dict[str, str]], GatewayError]

_BY_TYPE: dict[str, _Builder] = {
    "ValidationException": lambda m, h: UpstreamRejectedError(
        m or "the provider rejected the request", status=400, code="validation_error"
    ),
    "ConflictException": lambda m, h: UpstreamRejectedError(m or "conflict", status=400, code="conflict"),
    "ResourceNotFoundException": lambda m, h: UpstreamRejectedError(
        m or "the provider does not know this model", status=404, code="model_not_found"
    ),
    "ThrottlingException": lambda m, h: RateLimitError(m or "the provider is rate limiting requests", headers=h),
    "ModelNotReadyException": lambda m, h: RateLimitError(
        m or "the model is not ready yet", code="model_not_ready", headers=h
    ),
    "ServiceQuotaExceededException": lambda m, h: QuotaExceededError(
        m or "the provider's account quota is exhausted", headers=h
    ),
    "ModelTimeoutException": lambda m, h: UpstreamTimeoutError(m or "the model timed out"),
    "ServiceUnavailableException": lambda m, h: UpstreamUnavailableError(m or "the provider is unavailable", headers=h),
    "InternalServerException": lambda m, h: UpstreamStatusError(m or "the provider failed"),
    "ModelErrorException": lambda m, h: UpstreamStatusError(
        m or "the model failed to process the request", code="model_error"
    ),
    "ModelStreamErrorException": lambda m, h: UpstreamStatusError(
        m or "the model failed while streaming", code="model_error"
    ),
}


def _by_status(status: int, message: str | None, forwarded: dict[str, str]) -> GatewayError:
    if status == 429:
        return RateLimitError(message or "the provider is rate limiting requests", headers=forwarded)
    if status == 408:
        return UpstreamTimeoutError(message or "the provider timed out")
    if status in (400, 404, 409, 413, 422):
        return UpstreamRejectedError(message or f"the provider rejected the request (HTTP {status})", status=status)
    if status == 503:
        return UpstreamUnavailableError(message or "the provider is unavailable", headers=forwarded)
    if 300 <= status < 400:
        return UpstreamStatusError("the provider answered with an unexpected redirect")
    return UpstreamStatusError(message or f"the provider failed (HTTP {status})")
