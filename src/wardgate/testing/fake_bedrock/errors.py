"""Bedrock's error answers: status, ``{"message": ...}`` body and the ``x-amzn-ErrorType`` header botocore reads.

Statuses follow botocore's ``bedrock-runtime`` service model; messages are those the service sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from wardgate.testing.responses import body_response, json_response

_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"

STATUS_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
MESSAGES = {
    "ValidationException": "The request is not valid.",
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "AccessDeniedException": "You don't have access to the model with the specified model ID.",
    "ResourceNotFoundException": "Could not resolve the foundation model from the provided model identifier.",
    "ModelTimeoutException": "Model has timed out in processing the request. Try your request again.",
    "ModelErrorException": "The model encountered an error while processing the request.",
    "ModelNotReadyException": "Model is not ready for inference. Wait and try your request again.",
    "ThrottlingException": "Too many requests, please wait before trying again.",
    "ServiceQuotaExceededException": "Your request exceeds the service quota for your account.",
    "InternalServerException": "The system encountered an unexpected error during processing. Try your request again.",
    "ServiceUnavailableException": "Bedrock is unable to process your request.",
    "ModelStreamErrorException": "The model failed while streaming the response.",
}


def request_id() -> str:
    return str(uuid.uuid4())


def type_for(status: int, headers: Mapping[str, str]) -> str:
    """The error type of a scripted error: an explicit ``x-amzn-ErrorType`` header wins over the status."""
    for key, value in headers.items():
        if key.lower() == "x-amzn-errortype":
            return value.split(":", 1)[0]
    return STATUS_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")


def error_response(status: int, error_type: str, message: str | None = None) -> web.Response:
    headers = {"x-amzn-ErrorType": f"{error_type}:{_NAMESPACE}", "x-amzn-RequestId": request_id()}
    return json_response({"message": message or MESSAGES.get(error_type, "error")}, status, headers)


def scripted_error(status: int, body: dict[str, Any] | bytes | str | None, extra: Mapping[str, str]) -> web.Response:
    kind = type_for(status, extra)
    headers = {"x-amzn-ErrorType": f"{kind}:{_NAMESPACE}", "x-amzn-RequestId": request_id(), **extra}
    return body_response(body if body is not None else {"message": MESSAGES.get(kind, "error")}, status, headers)


def stream_exception_type(error_type: str) -> str:
    """``ThrottlingException`` → ``throttlingException`` (the ``:exception-type`` of a ConverseStream event)."""
    return error_type[:1].lower() + error_type[1:]
