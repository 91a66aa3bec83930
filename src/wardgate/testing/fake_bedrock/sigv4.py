"""Verify an incoming request's AWS SigV4 signature the way AWS does: re-sign what was received with botocore and
compare. Failures carry the error type and message AWS front ends send (403, ``x-amzn-ErrorType``).

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4-signing-request.html
"""

from __future__ import annotations

import datetime
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW = datetime.timedelta(minutes=5)
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*"
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


@dataclass(frozen=True, slots=True)
class AuthFailure:
    error_type: str
    message: str


@dataclass(frozen=True, slots=True)
class Received:
    """What the server got: method, the raw (still percent-encoded) path and query, headers and body."""

    method: str
    raw_path: str
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


class SigV4Verifier:
    def __init__(
        self, access_key_id: str, secret_access_key: str, region: str, session_token: str | None, service: str
    ) -> None:
        self.access_key_id = access_key_id
        self.region = region
        self.service = service
        self.session_token = session_token
        self._credentials = Credentials(access_key_id, secret_access_key, session_token)

    def check(self, request: Received, now: datetime.datetime | None = None) -> AuthFailure | None:
        """None when the signature is valid, else the failure AWS would report."""
        header = request.headers.get("authorization")
        if not header:
            return AuthFailure("MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTH.fullmatch(header)
        if match is None:
            return AuthFailure(
                "IncompleteSignatureException",
                "Authorization header requires Credential, SignedHeaders and Signature parameters.",
            )
        parts = match["credential"].split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            return AuthFailure("IncompleteSignatureException", "Credential is malformed.")
        key_id, day, region, service, _ = parts
        if key_id != self.access_key_id:
            return AuthFailure("UnrecognizedClientException", "The security token included in the request is invalid.")
        if self.session_token is not None and request.headers.get("x-amz-security-token") != self.session_token:
            return AuthFailure("UnrecognizedClientException", "The security token included in the request is invalid.")
        if region != self.region:
            return AuthFailure(
                "InvalidSignatureException", f"Credential should be scoped to a valid region, not '{region}'."
            )
        if service != self.service:
            return AuthFailure(
                "InvalidSignatureException", f"Credential should be scoped to correct service: '{self.service}'."
            )
        return self._check_date(request, day, now) or self._check_signature(request, match)

    def _check_date(self, request: Received, day: str, now: datetime.datetime | None) -> AuthFailure | None:
        stamp = request.headers.get("x-amz-date", "")
        try:
            signed_at = datetime.datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=datetime.UTC)
        except ValueError:
            return AuthFailure(
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        if stamp[:8] != day:
            return AuthFailure(
                "InvalidSignatureException",
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.",
            )
        current = now or datetime.datetime.now(datetime.UTC)
        if abs(current - signed_at) > MAX_SKEW:
            return AuthFailure(
                "InvalidSignatureException",
                f"Signature expired: {stamp} is now earlier than {(current - MAX_SKEW).strftime(SIGV4_TIMESTAMP)}.",
            )
        return None

    def _check_signature(self, request: Received, match: re.Match[str]) -> AuthFailure | None:
        signed = match["signed"].split(";")
        if "host" not in signed or any(name not in request.headers for name in signed):
            return AuthFailure("InvalidSignatureException", SIGNATURE_MISMATCH)
        host = request.headers["host"]
        resigned = AWSRequest(
            method=request.method,
            url=f"http://{host}{request.raw_path}",
            headers={name: request.headers[name] for name in signed},
            data=request.body,
        )
        resigned.context["timestamp"] = request.headers["x-amz-date"]
        auth = SigV4Auth(self._credentials, self.service, self.region)
        canonical = auth.canonical_request(resigned)
        expected = auth.signature(auth.string_to_sign(resigned, canonical), resigned)
        if not hmac.compare_digest(expected, match["signature"]):
            return AuthFailure("InvalidSignatureException", SIGNATURE_MISMATCH)
        return None
