"""Tests of OpenAI-format upstream error mapping, the OpenAI and Azure adapters (pure request translation) and
credentials (never shown, scrubbed from text)."""

from __future__ import annotations

import copy
from collections.abc import Mapping

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from wardgate.core import errors
from wardgate.core.types import Endpoint, ProxyRequest
from wardgate.providers.auth import Credential, api_key_header, bearer
from wardgate.providers.azure.adapter import AzureAdapter
from wardgate.providers.openai.adapter import OpenAIAdapter
from wardgate.providers.openai.errors import error_fields, map_openai_error

UPSTREAM_MESSAGE = "Incorrect API key provided: sk-abc***xyz. You can find your key at https://example/keys"


def openai_error_body(message: str = "upstream says no", *, param: str | None = None, code: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}})


def aiohttp_like_headers(**headers: str) -> CIMultiDictProxy[str]:
    """Response headers as the transport hands them over (case-insensitive, as sent by the server)."""
    return CIMultiDictProxy(CIMultiDict({name.replace("_", "-").title(): value for name, value in headers.items()}))


# --- map_openai_error -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_upstream_auth_failure_becomes_502_without_upstream_message(status: int) -> None:
    error = map_openai_error(status, openai_error_body(UPSTREAM_MESSAGE, code="invalid_api_key"), {})
    assert isinstance(error, errors.UpstreamStatusError)
    assert error.http_status == 502
    assert error.code == "upstream_auth_failed"
    assert "sk-abc" not in error.message
    assert UPSTREAM_MESSAGE not in error.message
    assert "https://example" not in error.message
    assert error.to_dict()["error"]["code"] == "upstream_auth_failed"


@pytest.mark.parametrize(
    ("headers", "forwarded"),
    [
        (aiohttp_like_headers(retry_after="7"), {"retry-after": "7"}),
        (aiohttp_like_headers(retry_after_ms="250"), {"retry-after-ms": "250"}),
        (aiohttp_like_headers(retry_after="2", retry_after_ms="1500"), {"retry-after": "2", "retry-after-ms": "1500"}),
        ({"retry-after": "9"}, {"retry-after": "9"}),
        (aiohttp_like_headers(x_ratelimit_remaining="0", set_cookie="s=1"), {}),
        ({}, {}),
    ],
    ids=["retry-after", "retry-after-ms", "both", "plain-lowercase", "others-dropped", "none"],
)
def test_rate_limit_keeps_retry_headers_and_is_retryable(headers: Mapping[str, str], forwarded: dict[str, str]) -> None:
    error = map_openai_error(
        429, openai_error_body("Rate limit reached for gpt-4o", code="rate_limit_exceeded"), headers
    )
    assert isinstance(error, errors.RateLimitError)
    assert error.http_status == 429
    assert error.retryable is True
    assert error.headers == forwarded
    assert error.message == "Rate limit reached for gpt-4o"
    assert error.code == "rate_limit_exceeded"


def test_rate_limit_without_body_has_a_message_and_default_code() -> None:
    error = map_openai_error(429, b"", {})
    assert isinstance(error, errors.RateLimitError)
    assert error.message
    assert error.code == "rate_limit_exceeded"


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_request_errors_keep_status_message_param_code_and_are_final(status: int) -> None:
    body = openai_error_body("Invalid value for 'temperature'", param="temperature", code="invalid_value")
    error = map_openai_error(status, body, aiohttp_like_headers(retry_after="1"))
    assert isinstance(error, errors.UpstreamRejectedError)
    assert error.http_status == status
    assert error.retryable is False
    assert error.headers == {}
    assert error.to_dict() == {
        "error": {
            "message": "Invalid value for 'temperature'",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }


def test_request_error_without_details_gets_generic_message_and_code() -> None:
    error = map_openai_error(404, b"Not Found", {})
    assert isinstance(error, errors.UpstreamRejectedError)
    assert error.http_status == 404
    assert "404" in error.message
    assert error.code == "upstream_rejected"
    assert error.param is None


@pytest.mark.parametrize("status", [500, 502, 504, 520])
def test_server_errors_become_retryable_502(status: int) -> None:
    error = map_openai_error(status, openai_error_body("The server had an error", code="server_error"), {})
    assert isinstance(error, errors.UpstreamStatusError)
    assert error.http_status == 502
    assert error.retryable is True
    assert error.message == "The server had an error"
    assert error.code == "server_error"


def test_server_error_without_body_names_the_status() -> None:
    error = map_openai_error(500, b"", {})
    assert error.http_status == 502
    assert "500" in error.message
    assert error.code == "bad_gateway"


def test_503_stays_503_with_retry_after() -> None:
    error = map_openai_error(503, openai_error_body("overloaded"), aiohttp_like_headers(retry_after="30"))
    assert isinstance(error, errors.UpstreamUnavailableError)
    assert error.http_status == 503
    assert error.retryable is True
    assert error.message == "overloaded"
    assert error.headers == {"retry-after": "30"}


def test_408_is_a_timeout() -> None:
    error = map_openai_error(408, b"", {})
    assert isinstance(error, errors.UpstreamTimeoutError)
    assert error.http_status == 504
    assert error.retryable is True


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_become_502_without_location(status: int) -> None:
    headers = aiohttp_like_headers(location="https://elsewhere.example/steal")
    error = map_openai_error(status, openai_error_body("moved"), headers)
    assert isinstance(error, errors.UpstreamStatusError)
    assert error.http_status == 502
    assert "elsewhere.example" not in error.message
    assert error.headers == {}


GARBAGE_BODIES = [
    b"",
    b"<html>Bad Gateway</html>",
    b"\xff\xfe\x00garbage",
    b"null",
    b"[]",
    b'"just a string"',
    b"42",
    b'{"error": null}',
    b'{"error": 5}',
    b'{"error": ["a"]}',
    b'{"error": {"message": 5, "code": ["x"], "param": {"p": 1}}}',
    b'{"message": "no error key"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"error": {"message": "truncated',
]


@pytest.mark.parametrize("body", GARBAGE_BODIES)
@pytest.mark.parametrize("status", [400, 429, 500, 503])
def test_garbage_bodies_are_tolerated(status: int, body: bytes) -> None:
    error = map_openai_error(status, body, {})
    assert isinstance(error, errors.GatewayError)
    assert isinstance(error.message, str)
    assert error.message
    assert error.param is None
    shape = error.to_dict()["error"]
    assert set(shape) == {"message", "type", "param", "code"}
    orjson.dumps(error.to_dict())  # must be serialisable


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b'{"error": "plain text error"}', ("plain text error", None, None)),
        (b'{"error": {"message": "m", "code": 1234, "param": "p"}}', ("m", "1234", "p")),
        (b'{"error": {"message": "m", "code": "c", "param": null}}', ("m", "c", None)),
        (b"not json", (None, None, None)),
    ],
)
def test_error_fields(body: bytes, fields: tuple[str | None, str | None, str | None]) -> None:
    assert error_fields(body) == fields


def test_long_upstream_messages_are_truncated() -> None:
    error = map_openai_error(400, openai_error_body("x" * 10_000), {})
    assert 0 < len(error.message) <= 2000


# --- OpenAI adapter -------------------------------------------------------------------------------------------

RAW_CHAT = (
    b'{ "model" : "gpt-4o",\n  "messages": [{"role": "user", "content": "h\\u00e9llo \xf0\x9f\x91\x8b"}],'
    b' "temperature": 0.70, "stream": true, "x_vendor": {"keep": [1, 2.5, null]}, "n": 1 }'
)


def chat_request(raw: bytes = RAW_CHAT, endpoint: Endpoint = Endpoint.CHAT) -> ProxyRequest:
    body = orjson.loads(raw)
    return ProxyRequest(endpoint=endpoint, raw=raw, body=body, model=body["model"], stream=bool(body.get("stream")))


def test_same_model_forwards_the_original_bytes() -> None:
    request = chat_request()
    call = OpenAIAdapter().build_call(request, "gpt-4o")
    assert call.body == RAW_CHAT
    assert call.path == "/chat/completions"
    assert call.method == "POST"
    assert call.stream is True
    assert call.query == {}
    assert call.headers == {}


def test_renamed_model_replaces_only_model() -> None:
    request = chat_request()
    call = OpenAIAdapter().build_call(request, "gpt-4o-2024-08-06")
    sent = orjson.loads(call.body)
    assert sent["model"] == "gpt-4o-2024-08-06"
    assert {k: v for k, v in sent.items() if k != "model"} == {
        k: v for k, v in orjson.loads(RAW_CHAT).items() if k != "model"
    }
    assert list(sent) == list(orjson.loads(RAW_CHAT))  # key order kept
    assert sent["messages"][0]["content"] == "h\u00e9llo \U0001f44b"


def test_build_call_does_not_mutate_the_request() -> None:
    request = chat_request()
    body_before = copy.deepcopy(request.body)
    OpenAIAdapter().build_call(request, "other-model")
    AzureAdapter("2024-10-21").build_call(request, "other-deployment")
    assert request.body == body_before
    assert request.model == "gpt-4o"
    assert request.raw == RAW_CHAT
    assert request.stream is True


def test_embeddings_path_and_non_stream() -> None:
    raw = b'{"model":"emb","input":["a","b"],"encoding_format":"base64"}'
    request = chat_request(raw, Endpoint.EMBEDDINGS)
    call = OpenAIAdapter().build_call(request, "text-embedding-3-small")
    assert call.path == "/embeddings"
    assert call.stream is False
    assert orjson.loads(call.body) == {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "encoding_format": "base64",
    }


def test_openai_adapter_map_error_is_the_openai_mapping() -> None:
    error = OpenAIAdapter().map_error(401, openai_error_body(UPSTREAM_MESSAGE), {})
    assert error.code == "upstream_auth_failed"
    assert error.http_status == 502


# --- Azure adapter --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "suffix"), [(Endpoint.CHAT, "chat/completions"), (Endpoint.EMBEDDINGS, "embeddings")]
)
def test_azure_path_and_api_version(endpoint: Endpoint, suffix: str) -> None:
    raw = b'{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"input":"x"}'
    request = chat_request(raw, endpoint)
    call = AzureAdapter("2024-06-01").build_call(request, "my-deploy")
    assert call.path == f"/openai/deployments/my-deploy/{suffix}"
    assert call.query == {"api-version": "2024-06-01"}
    assert call.method == "POST"
    assert call.headers == {}
    assert orjson.loads(call.body)["model"] == "my-deploy"


def test_azure_same_name_forwards_original_bytes() -> None:
    request = chat_request()
    call = AzureAdapter("2024-10-21").build_call(request, "gpt-4o")
    assert call.body == RAW_CHAT
    assert call.stream is True


@pytest.mark.parametrize("deployment", ["a/../../x", "a?api-version=x", "a#frag", "a b"])
def test_azure_deployment_name_cannot_add_path_query_or_fragment(deployment: str) -> None:
    call = AzureAdapter("2024-10-21").build_call(chat_request(), deployment)
    segment = call.path.removeprefix("/openai/deployments/").removesuffix("/chat/completions")
    assert all(ch not in segment for ch in "/?# ")
    assert call.query == {"api-version": "2024-10-21"}


# --- credentials ----------------------------------------------------------------------------------------------

SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    ("credential", "headers"),
    [
        (bearer(SECRET), {"Authorization": f"Bearer {SECRET}"}),
        (api_key_header(SECRET), {"api-key": SECRET}),
        (api_key_header(SECRET, "x-api-key"), {"x-api-key": SECRET}),
    ],
    ids=["bearer", "azure-api-key", "custom-header"],
)
def test_credential_headers_and_repr(credential: Credential, headers: dict[str, str]) -> None:
    assert credential.headers() == headers
    assert SECRET not in repr(credential)
    assert SECRET not in str(credential)
    assert SECRET not in f"{credential!r} {credential}"


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        (f"Incorrect API key provided: {SECRET}.", "Incorrect API key provided: [redacted]."),
        (f"{SECRET} and again {SECRET}", "[redacted] and again [redacted]"),
        ("nothing to hide", "nothing to hide"),
        ("", ""),
    ],
)
def test_scrub(text: str, scrubbed: str) -> None:
    assert bearer(SECRET).scrub(text) == scrubbed


def test_scrub_with_empty_secret_leaves_text_alone() -> None:
    assert Credential("api-key", "").scrub("some text") == "some text"


def test_insufficient_quota_is_429_but_not_retryable() -> None:
    from wardgate.core.errors import QuotaExceededError

    body = (
        b'{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",'
        b' "param": null, "code": "insufficient_quota"}}'
    )
    error = map_openai_error(429, body, {})
    assert isinstance(error, QuotaExceededError)
    assert error.http_status == 429 and error.code == "insufficient_quota" and not error.retryable
