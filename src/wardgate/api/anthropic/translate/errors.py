"""Gateway errors in Anthropic's shape (https://docs.anthropic.com/en/api/errors): the HTTP error body
``{"type": "error", "error": {"type", "message"}, "request_id"}`` and the in-stream ``event: error``.

The ``anthropic`` SDK picks its exception class from the HTTP status alone (400 ``BadRequestError``, 401
``AuthenticationError``, 403 ``PermissionDeniedError``, 404 ``NotFoundError``, 413 ``ContentTooLargeError``,
429 ``RateLimitError``, 503 ``ServiceUnavailableError``, 504 ``GatewayTimeoutError``, 529 ``OverloadedError``,
any other 5xx ``InternalServerError``; it retries 408, 409, 429 and 5xx), so the gateway's own status is kept
and only ``error.type`` is chosen here, from Anthropic's documented vocabulary:

====== ============================== =================================================================
status ``error.type``                 why
====== ============================== =================================================================
400    ``invalid_request_error``      also every 4xx Anthropic does not list (as Anthropic itself does)
401    ``authentication_error``
402    ``billing_error``
403    ``permission_error``
404    ``not_found_error``
413    ``request_too_large``
429    ``rate_limit_error``           rate limits and spent quotas alike
500    ``api_error``                  also 502 (the upstream failed or broke) and any other 5xx
503    ``overloaded_error``           no deployment can take the request now: what Anthropic calls overload
504    ``timeout_error``
529    ``overloaded_error``
====== ============================== =================================================================

In a stream the HTTP status is already 200; the error event carries the same ``error.type``.
"""

from __future__ import annotations

from wardgate.api.anthropic.translate.common import JSONDict
from wardgate.core.errors import GatewayError

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def _error_object(error: GatewayError) -> JSONDict:
    return {"type": anthropic_error_type(error.http_status), "message": error.message}


def anthropic_error_body(error: GatewayError, *, request_id: str | None = None) -> JSONDict:
    """The JSON body of an Anthropic error response for ``error`` (sent with ``error.http_status``)."""
    body: JSONDict = {"type": "error", "error": _error_object(error)}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_event(error: GatewayError) -> tuple[str, JSONDict]:
    """The ``event: error`` Anthropic sends when a stream fails after it started."""
    return "error", {"type": "error", "error": _error_object(error)}
