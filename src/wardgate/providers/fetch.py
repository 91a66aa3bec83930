"""Safe fetching of image URLs for providers that need the bytes (Gemini, Bedrock).

Only http(s); every address a host resolves to is checked — private, loopback, link-local, multicast, reserved and
unspecified addresses are refused (IPv4-mapped IPv6 included) unless an operator allow-lists the network — and the
connection goes to the checked address, so DNS rebinding cannot swap it. Redirects are followed by hand, each hop
checked the same way; size and time are bounded. The session carries no credentials and keeps no cookies.
https://owasp.org/www-community/attacks/Server_Side_Request_Forgery
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from wardgate.config.schema import ImageFetchConfig
from wardgate.core.errors import InvalidRequestError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_forbidden(address: IPAddress, allowed: Iterable[Network] = ()) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return False
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


class BlockedAddressError(OSError):
    """A host that resolves only to forbidden addresses (raised inside the resolver, recognised by ``fetch``)."""


def _blocked(exc: BaseException) -> bool:
    """aiohttp wraps resolver failures (``os_error`` / ``__cause__``): look through the chain."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, BlockedAddressError):
            return True
        seen = getattr(seen, "os_error", None) or seen.__cause__ or seen.__context__
    return False


class SafeResolver(AbstractResolver):
    """Resolves with the default resolver, then drops every forbidden address; none left → refused."""

    def __init__(self, allowed: list[Network]) -> None:
        self._inner = DefaultResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        safe = [r for r in results if not is_forbidden(ipaddress.ip_address(r["host"]), self._allowed)]
        if not safe:
            raise BlockedAddressError(f"{host} resolves only to forbidden addresses")
        return safe

    async def close(self) -> None:
        await self._inner.close()


class ImageFetcher:
    """Owns its own session (never the upstream one: no provider credentials can ride along)."""

    def __init__(self, config: ImageFetchConfig) -> None:
        self._config = config
        self._allowed: list[Network] = [ipaddress.ip_network(n, strict=False) for n in config.allow_networks]
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=SafeResolver(self._allowed), limit=32, ttl_dns_cache=None)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _check_url(self, url: str, param: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequestError("Image URLs must be http(s) or data: URLs.", param=param)
        if parts.username or parts.password:
            raise InvalidRequestError("Image URLs must not contain credentials.", param=param)
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a name: checked by the resolver at connect time
        if is_forbidden(literal, self._allowed):
            raise InvalidRequestError("The image URL points to a private or local address.", param=param)

    async def fetch(self, url: str, param: str) -> tuple[str, bytes]:
        """``(mime_type, bytes)`` of the image at ``url``; any failure is a 400 naming ``param``."""
        try:
            async with asyncio.timeout(self._config.timeout):
                return await self._follow(url, param)
        except TimeoutError:
            raise InvalidRequestError("Fetching the image URL timed out.", param=param) from None
        except (aiohttp.ClientError, OSError) as exc:
            if _blocked(exc):
                raise InvalidRequestError("The image URL points to a private or local address.", param=param) from None
            raise InvalidRequestError("The image URL could not be fetched.", param=param) from None

    async def _follow(self, url: str, param: str) -> tuple[str, bytes]:
        for _ in range(self._config.max_redirects + 1):
            self._check_url(url, param)
            async with self._client().get(url, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise InvalidRequestError(f"The image URL answered HTTP {response.status}.", param=param)
                mime = response.content_type
                if not mime.startswith("image/"):
                    raise InvalidRequestError("The image URL did not return an image.", param=param)
                return mime, await self._read(response, param)
        raise InvalidRequestError("The image URL redirected too many times.", param=param)

    async def _read(self, response: aiohttp.ClientResponse, param: str) -> bytes:
        limit = self._config.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise InvalidRequestError(f"The image exceeds {limit} bytes.", param=param)
        data = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            data += chunk
            if len(data) > limit:
                raise InvalidRequestError(f"The image exceeds {limit} bytes.", param=param)
        return bytes(data)

    async def inline_images(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``body`` with every http(s) ``image_url`` replaced by a ``data:`` URL (fetched concurrently).
        Returns ``body`` itself when there is nothing to fetch; never mutates it."""
        found = list(_remote_images(body))
        if not found:
            return body
        fetched = await asyncio.gather(*(self.fetch(url, param) for _, _, url, param in found))
        result = copy.deepcopy(body)
        for (m_index, p_index, _, _), (mime, data) in zip(found, fetched, strict=True):
            part = result["messages"][m_index]["content"][p_index]
            part["image_url"] = {**part["image_url"], "url": f"data:{mime};base64,{base64.b64encode(data).decode()}"}
        return result


def _remote_images(body: dict[str, Any]) -> Iterable[tuple[int, int, str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for m_index, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for p_index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if isinstance(url, str) and not url.startswith("data:"):
                yield m_index, p_index, url, f"messages[{m_index}].content[{p_index}].image_url"
