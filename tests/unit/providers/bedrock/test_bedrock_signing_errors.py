"""SigV4Signer (known-answer vector from AWS's SigV4 test suite, encoded model ids, session tokens, no secrets in
repr) and the Bedrock error mapping."""

from __future__ import annotations

import datetime

import orjson
import pytest

from wardgate.core.errors import (
    RateLimitError,
    StreamInterruptedError,
    UpstreamRejectedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from wardgate.providers.bedrock import BedrockAdapter, SigV4Signer
from wardgate.providers.bedrock.adapter import model_path
from wardgate.providers.bedrock.errors import QuotaExceededError, map_stream_exception
from wardgate.testing.fake_bedrock.sigv4 import Received, SigV4Verifier

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def test_aws_sigv4_test_suite_get_vanilla(monkeypatch: pytest.MonkeyPatch) -> None:
    # "get-vanilla" from AWS's Signature Version 4 test suite.
    fixed = datetime.datetime(2015, 8, 30, 12, 36, 0)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: fixed)
    signer = SigV4Signer("us-east-1", "AKIDEXAMPLE", SECRET, service="service")
    headers = signer.headers("GET", "https://example.amazonaws.com/", {}, b"")
    assert headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_signed_request_verifies_with_encoded_model_id() -> None:
    signer = SigV4Signer("eu-west-1", "AKIDTEST", SECRET, session_token="token-123")
    path = model_path("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude", "converse")
    assert path == (
        "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude/converse"
    )
    body = b'{"messages":[]}'
    headers = signer.headers(
        "POST", "https://bedrock-runtime.eu-west-1.amazonaws.com" + path, {"Content-Type": "application/json"}, body
    )
    assert headers["X-Amz-Security-Token"] == "token-123"
    assert "content-type;host;x-amz-date;x-amz-security-token" in headers["Authorization"]
    received = {k.lower(): v for k, v in headers.items()} | {"host": "bedrock-runtime.eu-west-1.amazonaws.com"}
    verifier = SigV4Verifier("AKIDTEST", SECRET, "eu-west-1", "token-123", "bedrock")
    assert verifier.check(Received("POST", path, received, body)) is None
    # The same path with ':' decoded (what yarl does without encoded=True) no longer matches.
    decoded = path.replace("%3A", ":")
    failure = verifier.check(Received("POST", decoded, received, body))
    assert failure is not None and failure.error_type == "InvalidSignatureException"
    failure = verifier.check(Received("POST", path, received, body + b" "))
    assert failure is not None and failure.error_type == "InvalidSignatureException"


def test_signer_repr_and_scrub_hide_secrets() -> None:
    signer = SigV4Signer("us-east-1", "AKIDTEST", SECRET, session_token="sess-tok")
    assert SECRET not in repr(signer) and "sess-tok" not in repr(signer) and "AKIDTEST" not in repr(signer)
    assert signer.scrub(f"oops {SECRET} and sess-tok") == "oops [redacted] and [redacted]"
    with pytest.raises(ValueError):
        SigV4Signer("us-east-1", "", SECRET)


def _error(status: int, kind: str | None, message: str = "upstream says no", **extra: str) -> object:
    headers = {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"} if kind else {}
    return BedrockAdapter().map_error(status, orjson.dumps({"message": message}), {**headers, **extra})


@pytest.mark.parametrize(
    ("status", "kind", "cls", "http", "retryable"),
    [
        (400, "ValidationException", UpstreamRejectedError, 400, False),
        (404, "ResourceNotFoundException", UpstreamRejectedError, 404, False),
        (429, "ThrottlingException", RateLimitError, 429, True),
        (400, "ServiceQuotaExceededException", QuotaExceededError, 429, False),
        (429, "ModelNotReadyException", RateLimitError, 429, True),
        (408, "ModelTimeoutException", UpstreamTimeoutError, 504, True),
        (503, "ServiceUnavailableException", UpstreamUnavailableError, 503, True),
        (500, "InternalServerException", UpstreamStatusError, 502, True),
        (424, "ModelErrorException", UpstreamStatusError, 502, True),
        (429, None, RateLimitError, 429, True),
        (502, None, UpstreamStatusError, 502, True),
    ],
)
def test_error_table(status: int, kind: str | None, cls: type, http: int, retryable: bool) -> None:
    error = _error(status, kind)
    assert type(error) is cls
    assert error.http_status == http  # type: ignore[attr-defined]
    assert error.retryable is retryable  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (403, "AccessDeniedException"),
        (403, "UnrecognizedClientException"),
        (403, "InvalidSignatureException"),
        (400, "ExpiredTokenException"),
        (401, None),
    ],
)
def test_auth_failures_never_echo_upstream_text(status: int, kind: str | None) -> None:
    error = _error(status, kind, "The security token AKIDSECRET is invalid")
    assert isinstance(error, UpstreamStatusError) and error.code == "upstream_auth_failed"
    assert error.http_status == 502 and "AKIDSECRET" not in error.message


def test_error_type_from_body_and_retry_after() -> None:
    error = BedrockAdapter().map_error(
        400, b'{"__type": "com.amazon.coral.validate#ValidationException", "Message": "bad"}', {}
    )
    assert isinstance(error, UpstreamRejectedError) and error.message == "bad"
    throttled = _error(429, "ThrottlingException", **{"Retry-After": "3"})
    assert throttled.headers == {"retry-after": "3"}  # type: ignore[attr-defined]
    assert BedrockAdapter().map_error(500, b"<html>", {}).message == "the provider failed (HTTP 500)"


def test_stream_exceptions() -> None:
    assert isinstance(map_stream_exception("throttlingException", b'{"message":"slow"}'), RateLimitError)
    interrupted = map_stream_exception("modelStreamErrorException", b'{"message":"boom","originalStatusCode":500}')
    assert isinstance(interrupted, StreamInterruptedError) and interrupted.message == "boom"
    assert isinstance(map_stream_exception("validationException", b"{}"), UpstreamRejectedError)
    assert isinstance(map_stream_exception("serviceUnavailableException", b"{}"), UpstreamUnavailableError)
    assert isinstance(map_stream_exception("internalServerException", b""), UpstreamStatusError)
    assert isinstance(map_stream_exception("somethingNew", b""), UpstreamStatusError)


@pytest.mark.parametrize(
    ("url", "token", "body"),
    [
        (
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse",
            None,
            b'{"messages":[]}',
        ),
        (
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Fx/converse-stream",
            "session-token-xyz",
            b"{}",
        ),
        ("http://127.0.0.1:8123/model/amazon.titan-embed-text-v2%3A0/invoke", None, b'{"inputText":"hi  there"}'),
        ("https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke?b=2&a=1", "t", b""),
    ],
)
def test_fast_signature_equals_botocore(
    monkeypatch: pytest.MonkeyPatch, url: str, token: str | None, body: bytes
) -> None:
    fixed = datetime.datetime(2026, 11, 29, 12, 0, 0)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: fixed)
    signer = SigV4Signer("us-east-1", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    headers = {"Content-Type": "application/json", "Accept": "application/json", "X-Extra": "  a   b "}
    assert signer.headers("POST", url, headers, body) == signer.botocore_headers("POST", url, headers, body)
    assert signer.headers("POST", url, headers, body) == signer.botocore_headers(
        "POST", url, headers, body
    )  # cached key
