"""The one error tree of the gateway.

Every failure a client can see is a :class:`GatewayError`. Each class knows its HTTP status, its OpenAI error
``type`` and ``code``, and whether trying another attempt could help::

    GatewayError (500 api_error)
    ├── InternalError              500 a bug: details are logged with the request id, never sent
    ├── InvalidRequestError        400 invalid_request_error
    │   └── UnsupportedParameterError 400 (code unsupported_parameter)
    ├── AuthenticationError        401 authentication_error / invalid_api_key
    ├── PermissionDeniedError      403 permission_error
    ├── NotFoundError              404 invalid_request_error
    │   └── ModelNotFoundError     404 (code model_not_found)
    ├── RequestTooLargeError       413 invalid_request_error / request_too_large
    ├── RateLimitError             429 rate_limit_error            (retryable)
    │   └── QuotaExceededError     429 insufficient_quota: an account quota is spent (not retryable)
    ├── UpstreamError              502 upstream_error              (retryable)
    │   ├── UpstreamStatusError    502 an upstream 5xx / unusable answer
    │   ├── UpstreamRejectedError  4xx the upstream refused the request itself (not retryable)
    │   └── StreamInterruptedError 502 the upstream broke mid-stream (never retried after the first byte)
    ├── UpstreamUnavailableError   503 service_unavailable         (retryable)
    │   └── NoHealthyDeploymentError 503 every deployment is skipped by its breaker (Retry-After: when one may be)
    ├── OverloadedError            503 service_unavailable / overloaded: the gateway sheds load (Retry-After: 1)
    ├── LimitStoreUnavailableError 503 a fail-closed rate limit cannot reach its shared store (Retry-After: 1)
    └── UpstreamTimeoutError       504 timeout                     (retryable)

Messages are written for the client: they never contain upstream URLs, credentials or tracebacks.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error a client can receive."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.http_status = status if status is not None else self.status
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error body: ``{"error": {"message", "type", "param", "code"}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InternalError(GatewayError):
    default_code = "internal_error"

    def __init__(self) -> None:
        super().__init__("The gateway hit an internal error; the request id identifies it in the logs.")


class InvalidRequestError(GatewayError):
    status = 400
    error_type = "invalid_request_error"


class UnsupportedParameterError(InvalidRequestError):
    default_code = "unsupported_parameter"


class AuthenticationError(GatewayError):
    status = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class NotFoundError(GatewayError):
    status = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFoundError(NotFoundError):
    default_code = "model_not_found"


class RequestTooLargeError(GatewayError):
    status = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimitError(GatewayError):
    status = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    retryable = True


class QuotaExceededError(RateLimitError):
    """An account quota is exhausted: 429 for the client (as OpenAI answers ``insufficient_quota``), but retrying
    the same deployment soon will not help, so the router must not treat it as a transient rate limit."""

    default_code = "insufficient_quota"
    retryable = False


class UpstreamError(GatewayError):
    status = 502
    error_type = "upstream_error"
    default_code = "bad_gateway"
    retryable = True


class UpstreamStatusError(UpstreamError):
    """The upstream answered with a server error or something that is not a valid answer."""


class UpstreamRejectedError(UpstreamError):
    """The upstream refused this request (4xx other than rate limits); resending will not help."""

    error_type = "invalid_request_error"
    default_code = "upstream_rejected"
    retryable = False


class StreamInterruptedError(UpstreamError):
    default_code = "stream_interrupted"


class UpstreamUnavailableError(GatewayError):
    status = 503
    error_type = "service_unavailable"
    default_code = "upstream_unavailable"
    retryable = True


class NoHealthyDeploymentError(UpstreamUnavailableError):
    """Every deployment the request could use is ejected by its circuit breaker or cooling down: fail fast."""

    default_code = "no_healthy_deployment"

    def __init__(self, model: str, retry_after: float) -> None:
        seconds = str(max(1, math.ceil(retry_after)))
        super().__init__(
            f"No deployment of `{model}` is healthy right now; retry in {seconds} s.",
            headers={"retry-after": seconds},
        )


class OverloadedError(GatewayError):
    """The gateway is at its limit of requests in flight (admission control): try again in a moment."""

    status = 503
    error_type = "service_unavailable"
    default_code = "overloaded"

    def __init__(self) -> None:
        super().__init__("The gateway is overloaded; retry in a moment.", headers={"retry-after": "1"})


class LimitStoreUnavailableError(GatewayError):
    """A rate limit configured to fail closed cannot be checked: its shared store (Redis) is unreachable."""

    status = 503
    error_type = "service_unavailable"
    default_code = "rate_limiter_unavailable"
    retryable = True

    def __init__(self, name: str) -> None:
        super().__init__(
            f"The rate limit `{name}` cannot be checked right now; retry in a moment.", headers={"retry-after": "1"}
        )


class UpstreamTimeoutError(GatewayError):
    status = 504
    error_type = "timeout"
    default_code = "upstream_timeout"
    retryable = True
