"""Gateway errors in Anthropic's shape: the status → ``error.type`` table, bodies valid for the SDK's
``ErrorResponse``, the exception class the ``anthropic`` SDK raises for each (through an in-memory transport),
and the in-stream ``event: error``."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types import ErrorResponse

from wardgate.api.anthropic.translate import anthropic_error_body, anthropic_error_type, error_event, sse_frame
from wardgate.core import errors

MESSAGE = [{"role": "user", "content": "hi"}]


def client_answering(status: int, body: bytes, content_type: str = "application/json") -> anthropic.Anthropic:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, headers={"content-type": content_type}, content=body)

    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(
        api_key="k", base_url="http://gw.test", max_retries=0, http_client=httpx2.Client(transport=transport)
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (402, "billing_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (409, "invalid_request_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (503, "overloaded_error"),
        (504, "timeout_error"),
        (529, "overloaded_error"),
        (599, "api_error"),
    ],
)
def test_status_to_error_type(status: int, kind: str) -> None:
    assert anthropic_error_type(status) == kind


SDK_CLASSES: list[tuple[errors.GatewayError, type[anthropic.APIStatusError]]] = [
    (errors.InvalidRequestError("bad field", param="x"), anthropic.BadRequestError),
    (errors.UnsupportedParameterError("no top_k here", param="top_k"), anthropic.BadRequestError),
    (errors.AuthenticationError("bad key"), anthropic.AuthenticationError),
    (errors.PermissionDeniedError("not yours"), anthropic.PermissionDeniedError),
    (errors.ModelNotFoundError("no such model"), anthropic.NotFoundError),
    (errors.RequestTooLargeError("too big"), anthropic.ContentTooLargeError),
    (errors.RateLimitError("slow down"), anthropic.RateLimitError),
    (errors.QuotaExceededError("budget spent"), anthropic.RateLimitError),
    (errors.InternalError(), anthropic.InternalServerError),
    (errors.UpstreamStatusError("provider failed"), anthropic.InternalServerError),
    (errors.UpstreamRejectedError("provider refused", status=422), anthropic.UnprocessableEntityError),
    (errors.UpstreamUnavailableError("all busy"), anthropic.ServiceUnavailableError),
    (errors.UpstreamTimeoutError("too slow"), anthropic.GatewayTimeoutError),
]


@pytest.mark.parametrize(("error", "expected"), SDK_CLASSES, ids=lambda v: type(v).__name__)
def test_the_sdk_raises_the_matching_exception(error: errors.GatewayError, expected: type[Exception]) -> None:
    body = anthropic_error_body(error, request_id="req_1")
    client = client_answering(error.http_status, orjson.dumps(body))
    with pytest.raises(expected) as info:
        client.messages.create(model="m", max_tokens=5, messages=MESSAGE)
    assert isinstance(info.value, anthropic.APIStatusError)
    assert info.value.body == body
    assert error.message in info.value.message


@pytest.mark.parametrize(("error", "_"), SDK_CLASSES, ids=lambda v: type(v).__name__)
def test_bodies_match_anthropics_shape(error: errors.GatewayError, _: Any) -> None:
    body = anthropic_error_body(error)
    assert body == {
        "type": "error",
        "error": {"type": anthropic_error_type(error.http_status), "message": error.message},
    }
    if body["error"]["type"] != "request_too_large":  # documented by Anthropic, missing from the SDK's union
        ErrorResponse.model_validate({**body, "request_id": None})


def test_request_id_is_included_when_given() -> None:
    assert anthropic_error_body(errors.RateLimitError("x"), request_id="req_9")["request_id"] == "req_9"


def test_error_event_in_a_stream_reaches_the_sdk() -> None:
    error = errors.UpstreamUnavailableError("the provider is overloaded")
    name, data = error_event(error)
    assert (name, data) == ("error", {"type": "error", "error": {"type": "overloaded_error", "message": error.message}})
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "m",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    }
    sse = sse_frame("message_start", start) + sse_frame(name, data)
    client = client_answering(200, sse, "text/event-stream")
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model="m", max_tokens=5, messages=MESSAGE) as stream,
    ):
        for _ in stream:
            pass
    assert info.value.body == data
