"""AWS Signature Version 4 for Bedrock calls, computed by botocore itself (never re-implemented here).

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4-signing-request.html — the signature covers the
method, the path exactly as it is sent (Bedrock model ids are percent-encoded, and the canonical request encodes
them a second time, as botocore does), the query, the signed headers and the SHA-256 of the body. So the caller must
send the URL byte for byte as signed: with yarl that means ``URL(url, encoded=True)`` (yarl otherwise decodes
``%3A`` back to ``:`` and the signature no longer matches).

Applied by the client after translation, only to the configured Bedrock URL; adapters never see credentials.
"""

from __future__ import annotations

from collections.abc import Mapping

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEFAULT_SERVICE = "bedrock"  # the signing name of bedrock-runtime (service-2.json metadata.signingName)


class SigV4Signer:
    """Signs one request at a time: ``headers(method, url, headers, body)`` returns the headers to send."""

    __slots__ = ("_credentials", "region", "service")

    def __init__(
        self,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        service: str = DEFAULT_SERVICE,
    ) -> None:
        if not region or not access_key_id or not secret_access_key:
            raise ValueError("region, access_key_id and secret_access_key are required")
        self.region = region
        self.service = service
        self._credentials = Credentials(access_key_id, secret_access_key, session_token)

    def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> dict[str, str]:
        """``headers`` plus ``X-Amz-Date``, ``Authorization`` and (with a session token) ``X-Amz-Security-Token``.

        Every header passed in is signed, so pass exactly the headers that will be sent (``Content-Type``,
        ``Accept``…); headers the HTTP client adds on its own later (``User-Agent``…) are simply not signed.
        """
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        SigV4Auth(self._credentials, self.service, self.region).add_auth(request)
        return dict(request.headers.items())

    def scrub(self, text: str) -> str:
        """Remove the secret key and session token from text that may leave the gateway."""
        for secret in (self._credentials.secret_key, self._credentials.token):
            if secret and secret in text:
                text = text.replace(secret, "[redacted]")
        return text

    def __repr__(self) -> str:
        return f"SigV4Signer(region={self.region!r}, service={self.service!r})"
