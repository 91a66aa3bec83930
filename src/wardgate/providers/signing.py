"""Credentials for cross-dialect providers, applied after translation to the configured URL only.

A signer returns the headers that authenticate one call: static API-key headers, an OAuth access token (Vertex AI)
or a SigV4 signature over the whole request (Bedrock). Secrets never appear in ``repr``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from wardgate.providers.auth import Credential


class RequestSigner(Protocol):
    async def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Mapping[str, str]: ...


class StaticSigner:
    """API-key headers that do not depend on the request (``x-api-key``, ``x-goog-api-key``, …)."""

    def __init__(self, credential: Credential) -> None:
        self._headers = credential.headers()

    def __repr__(self) -> str:
        return "StaticSigner(<redacted>)"

    async def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Mapping[str, str]:
        return self._headers


class TokenSigner:
    """``Authorization`` from an async token source that caches and refreshes tokens itself."""

    def __init__(
        self, source: Callable[[], Awaitable[Mapping[str, str]]], invalidate: Callable[[], None] | None = None
    ) -> None:
        self._source = source
        self._invalidate = invalidate

    def rejected(self) -> None:
        """The provider refused the token (401): drop it so the next call fetches a new one."""
        if self._invalidate is not None:
            self._invalidate()

    def __repr__(self) -> str:
        return "TokenSigner(<redacted>)"

    async def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Mapping[str, str]:
        return await self._source()


class SyncSigner:
    """A CPU-only signer (SigV4): computes the headers from the full request."""

    def __init__(self, sign: Callable[[str, str, Mapping[str, str], bytes], Mapping[str, str]]) -> None:
        self._sign = sign

    def __repr__(self) -> str:
        return "SyncSigner(<redacted>)"

    async def headers(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Mapping[str, str]:
        return self._sign(method, url, headers, body)
