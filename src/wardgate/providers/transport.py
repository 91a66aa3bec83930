"""The one shared upstream HTTP transport: a single aiohttp ``ClientSession`` with pooled keep-alive connections.

It sends calls (never following redirects: a redirect could carry credentials elsewhere), applies the time limits
(connect, first byte, idle between stream chunks) and turns network failures into gateway errors whose messages name
the provider but never its URL or credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from wardgate.config.schema import Timeouts
from wardgate.core.errors import (
    StreamInterruptedError,
    UpstreamStatusError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

MAX_ERROR_BODY = 64 * 1024
MAX_RESPONSE_BODY = 64 * 1024 * 1024
CREDENTIAL_TIMEOUT = 30.0


@dataclass(slots=True)
class UpstreamReply:
    """An upstream response whose headers have arrived; the body is read by the caller."""

    status: int
    headers: Mapping[str, str]
    response: aiohttp.ClientResponse

    async def read_all(self, provider: str, limit: int = MAX_RESPONSE_BODY) -> bytes:
        """Read the whole body (bounded by ``limit``); a broken or stalled body raises a gateway error."""
        response = self.response
        try:
            declared = response.content_length
            if declared is not None and declared <= limit:
                body = await response.read()
            else:
                body = await self._read_bounded(limit)
        except TimeoutError:
            response.close()
            raise UpstreamTimeoutError(f"provider {provider} stopped sending its response") from None
        except (aiohttp.ClientError, OSError):
            response.close()
            raise UpstreamStatusError(f"the connection to provider {provider} broke mid-response") from None
        response.release()
        return body

    async def _read_bounded(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.response.content.iter_any():
            size += len(chunk)
            if size > limit:
                self.response.close()
                raise UpstreamStatusError("the upstream response exceeds the size limit")
            chunks.append(chunk)
        return b"".join(chunks)


class Transport:
    """Owns the shared session; created in the app lifespan and closed on shutdown."""

    def __init__(self, *, limit: int = 0, limit_per_host: int = 0) -> None:
        connector = aiohttp.TCPConnector(
            limit=limit, limit_per_host=limit_per_host, ttl_dns_cache=300, keepalive_timeout=30.0
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None),
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            # Never keep upstream cookies: they would be replayed on other tenants' requests.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._client_timeouts: dict[tuple[Timeouts, bool], aiohttp.ClientTimeout] = {}

    async def close(self) -> None:
        await self._session.close()

    async def post_form(self, url: str, form: Mapping[str, str]) -> tuple[int, bytes]:
        """A form POST for credential exchanges (OAuth token endpoints): ``(status, body)``; no redirects."""
        try:
            async with (
                asyncio.timeout(CREDENTIAL_TIMEOUT),
                self._session.post(url, data=dict(form), allow_redirects=False) as response,
            ):
                return response.status, await response.content.read(MAX_ERROR_BODY)
        except TimeoutError:
            raise UpstreamTimeoutError("the credential service did not answer in time") from None
        except (aiohttp.ClientError, OSError):
            raise UpstreamUnavailableError("the credential service is unreachable") from None

    def _client_timeout(self, timeouts: Timeouts, stream: bool) -> aiohttp.ClientTimeout:
        """aiohttp's own timers: ``sock_read`` bounds every wait for data of a whole (non-stream) response, headers
        included; streams bound the header wait and each chunk themselves (``first_byte`` and ``idle`` differ)."""
        key = (timeouts, stream)
        found = self._client_timeouts.get(key)
        if found is None:
            found = aiohttp.ClientTimeout(
                total=None, sock_connect=timeouts.connect, sock_read=None if stream else timeouts.first_byte
            )
            self._client_timeouts[key] = found
        return found

    async def send(
        self,
        provider: str,
        url: URL | str,
        body: bytes,
        headers: Mapping[str, str],
        timeouts: Timeouts,
        stream: bool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply:
        """POST and wait for the response headers, at most ``first_byte`` seconds. Redirects are not followed.
        ``extra_headers`` (the request's trace context) are added last, after any request signing."""
        if extra_headers:
            headers = {**headers, **extra_headers}
        timeout = self._client_timeout(timeouts, stream)
        try:
            if stream:
                async with asyncio.timeout(timeouts.first_byte):
                    response = await self._session.post(
                        url, data=body, headers=headers, allow_redirects=False, timeout=timeout
                    )
            else:
                response = await self._session.post(
                    url, data=body, headers=headers, allow_redirects=False, timeout=timeout
                )
        except TimeoutError:
            raise UpstreamTimeoutError(f"provider {provider} did not answer in time") from None
        except aiohttp.ClientConnectorError:
            raise UpstreamUnavailableError(f"provider {provider} is unreachable") from None
        except (aiohttp.ClientError, OSError):
            raise UpstreamStatusError(f"the connection to provider {provider} failed") from None
        return UpstreamReply(response.status, response.headers, response)


async def iter_body(reply: UpstreamReply, provider: str, idle: float) -> AsyncGenerator[bytes, None]:
    """Yield body chunks as they arrive; silence longer than ``idle`` seconds ends the stream with an error."""
    content = reply.response.content
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await content.readany()
        except TimeoutError:
            raise UpstreamTimeoutError(f"provider {provider} stopped sending mid-stream") from None
        except (aiohttp.ClientError, OSError):
            raise StreamInterruptedError(f"the connection to provider {provider} broke mid-stream") from None
        if not chunk:
            return
        yield chunk
