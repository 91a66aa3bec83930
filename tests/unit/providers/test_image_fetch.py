"""The SSRF-safe image fetcher: private and local addresses refused (literal, resolved and after redirects)."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from wardgate.config.schema import ImageFetchConfig
from wardgate.core.errors import InvalidRequestError
from wardgate.providers.fetch import ImageFetcher, is_forbidden

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fd00::1", True),
        ("fe80::1", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert is_forbidden(ipaddress.ip_address(address)) is forbidden


def test_allow_list_overrides() -> None:
    assert not is_forbidden(ipaddress.ip_address("10.0.0.5"), [ipaddress.ip_network("10.0.0.0/24")])


@pytest.fixture
async def image_server() -> AsyncIterator[str]:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def big(request: web.Response) -> web.Response:
        return web.Response(body=b"\x00" * 5000, content_type="image/png")

    async def to_private(request: web.Request) -> web.Response:
        port = request.url.port
        raise web.HTTPFound(f"http://127.0.0.2:{port}/image.png")

    async def to_local(request: web.Request) -> web.Response:
        raise web.HTTPFound("/image.png")

    app = web.Application()
    app.router.add_get("/image.png", image)
    app.router.add_get("/text", text)
    app.router.add_get("/big.png", big)
    app.router.add_get("/to-private", to_private)
    app.router.add_get("/to-local", to_local)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def fetcher(**options: object) -> ImageFetcher:
    return ImageFetcher(ImageFetchConfig(**options))  # type: ignore[arg-type]


async def test_loopback_refused_by_default(image_server: str) -> None:
    f = fetcher()
    try:
        with pytest.raises(InvalidRequestError, match="private or local"):
            await f.fetch(image_server + "/image.png", "p")
        port = image_server.rsplit(":", 1)[1]
        with pytest.raises(InvalidRequestError, match="private or local"):
            await f.fetch(f"http://localhost:{port}/image.png", "p")  # a name that resolves to loopback
    finally:
        await f.close()


async def test_allow_listed_network_fetches_and_inlines(image_server: str) -> None:
    f = fetcher(allow_networks=["127.0.0.1/32"])
    try:
        mime, data = await f.fetch(image_server + "/to-local", "p")
        assert (mime, data) == ("image/png", PNG)
        body = {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": image_server + "/image.png", "detail": "low"}}
                    ],
                }
            ],
        }
        inlined = await f.inline_images(body)
        url = inlined["messages"][0]["content"][0]["image_url"]["url"]
        assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()
        assert inlined["messages"][0]["content"][0]["image_url"]["detail"] == "low"
        assert body["messages"][0]["content"][0]["image_url"]["url"].startswith("http")  # input untouched
    finally:
        await f.close()


async def test_redirect_to_private_address_refused(image_server: str) -> None:
    f = fetcher(allow_networks=["127.0.0.1/32"])
    try:
        with pytest.raises(InvalidRequestError, match="private or local") as info:
            await f.fetch(image_server + "/to-private", "messages[0].content[0].image_url")
        assert info.value.param == "messages[0].content[0].image_url"
    finally:
        await f.close()


async def test_non_image_oversize_and_bad_scheme_refused(image_server: str) -> None:
    f = fetcher(allow_networks=["127.0.0.1/32"], max_bytes=1024)
    try:
        with pytest.raises(InvalidRequestError, match="did not return an image"):
            await f.fetch(image_server + "/text", "p")
        with pytest.raises(InvalidRequestError, match="exceeds"):
            await f.fetch(image_server + "/big.png", "p")
        with pytest.raises(InvalidRequestError, match="http"):
            await f.fetch("file:///etc/passwd", "p")
        with pytest.raises(InvalidRequestError, match="credentials"):
            await f.fetch("http://user:pw@example.com/x.png", "p")
    finally:
        await f.close()


async def test_nothing_to_fetch_returns_same_body() -> None:
    f = fetcher()
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}
        ]
    }
    assert await f.inline_images(body) is body
    await f.close()
