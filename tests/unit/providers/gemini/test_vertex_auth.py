"""VertexTokenSource: JWT assertion, exchange, caching, one refresh for concurrent callers, errors that never
leak the key or token — first with an injected fake HTTP function, then against FakeGemini's /token endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wardgate.core.errors import UpstreamStatusError, UpstreamUnavailableError
from wardgate.providers.gemini.vertex_auth import CLOUD_PLATFORM_SCOPE, JWT_BEARER_GRANT, VertexTokenSource
from wardgate.testing.fake_gemini import FakeGemini, make_service_account

TOKEN_URI = "https://oauth2.googleapis.com/token"
ACCOUNT, PUBLIC_PEM = make_service_account(TOKEN_URI)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """An injected ``post_form`` that records calls and answers like Google's token endpoint."""

    def __init__(self, status: int = 200, body: Any = None, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.status = status
        self.body = body
        self.delay = delay

    async def __call__(self, url: str, fields: Mapping[str, str]) -> tuple[int, bytes]:
        self.calls.append((url, dict(fields)))
        if self.delay:
            await asyncio.sleep(self.delay)
        body = self.body if self.body is not None else {
            "access_token": f"ya29.token-{len(self.calls)}", "expires_in": 3599, "token_type": "Bearer",
        }  # fmt: skip
        return self.status, body if isinstance(body, bytes) else orjson.dumps(body)


def source(server: TokenServer, clock: Clock | None = None, **kwargs: Any) -> VertexTokenSource:
    return VertexTokenSource(ACCOUNT, server, clock=clock or Clock(), **kwargs)


async def test_exchanges_a_signed_assertion_for_a_bearer_token() -> None:
    server = TokenServer()
    clock = Clock()
    assert await source(server, clock).headers() == {"Authorization": "Bearer ya29.token-1"}
    url, fields = server.calls[0]
    assert url == TOKEN_URI
    assert fields["grant_type"] == JWT_BEARER_GRANT
    assert jwt.get_unverified_header(fields["assertion"]) == {"alg": "RS256", "typ": "JWT", "kid": "fake-key-1"}
    claims = jwt.decode(
        fields["assertion"], PUBLIC_PEM, algorithms=["RS256"], audience=TOKEN_URI, options={"verify_exp": False}
    )
    assert claims == {
        "iss": ACCOUNT["client_email"],
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": TOKEN_URI,
        "iat": int(clock.now),
        "exp": int(clock.now) + 3600,
    }


async def test_token_is_cached_until_shortly_before_expiry() -> None:
    server, clock = TokenServer(), Clock()
    tokens = source(server, clock, refresh_margin=300)
    assert await tokens.token() == "ya29.token-1"
    clock.now += 3599 - 301
    assert await tokens.token() == "ya29.token-1"
    clock.now += 2
    assert await tokens.token() == "ya29.token-2"
    assert tokens.refreshes == 2
    tokens.invalidate()
    assert await tokens.token() == "ya29.token-3"


async def test_concurrent_callers_share_one_refresh() -> None:
    server = TokenServer(delay=0.05)
    tokens = source(server)
    results = await asyncio.gather(*(tokens.headers() for _ in range(20)))
    assert len(server.calls) == 1
    assert {r["Authorization"] for r in results} == {"Bearer ya29.token-1"}


async def test_token_url_override_keeps_the_audience() -> None:
    server = TokenServer()
    await source(server, token_url="http://127.0.0.1:9/token").token()
    url, fields = server.calls[0]
    assert url == "http://127.0.0.1:9/token"
    assert jwt.decode(fields["assertion"], options={"verify_signature": False})["aud"] == TOKEN_URI


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, UpstreamStatusError),
        (401, {"error": "unauthorized_client", "error_description": "secret detail"}, UpstreamStatusError),
        (200, {"token_type": "Bearer"}, UpstreamStatusError),
        (200, b"not json", UpstreamStatusError),
        (503, b"busy", UpstreamUnavailableError),
        (429, b"", UpstreamUnavailableError),
    ],
)
async def test_token_errors_do_not_leak(status: int, body: Any, cls: type[Exception]) -> None:
    with pytest.raises(cls) as raised:
        await source(TokenServer(status, body)).token()
    text = str(raised.value)
    assert "secret detail" not in text and "Invalid JWT" not in text and "BEGIN" not in text
    if isinstance(raised.value, UpstreamStatusError):
        assert raised.value.code == "upstream_auth_failed"


async def test_oauth_error_code_is_named() -> None:
    with pytest.raises(UpstreamStatusError, match=r"\(invalid_grant\)"):
        await source(TokenServer(400, {"error": "invalid_grant"})).token()


async def test_repr_never_shows_secrets() -> None:
    tokens = source(TokenServer())
    await tokens.token()
    text = repr(tokens) + str(tokens)
    assert ACCOUNT["client_email"] in text
    assert "ya29" not in text and "PRIVATE" not in text


def test_invalid_service_accounts_are_refused_without_echoing_them() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    for account in (
        {**ACCOUNT, "client_email": None},
        {**ACCOUNT, "private_key": ""},
        {**ACCOUNT, "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"},
        {**ACCOUNT, "private_key": ec_pem},
        {**ACCOUNT, "token_uri": "http://evil.example/token"},
    ):
        with pytest.raises(ValueError) as raised:
            VertexTokenSource(account, TokenServer())
        assert "BEGIN" not in str(raised.value) and "not a key" not in str(raised.value)


async def test_against_the_fake_token_endpoint() -> None:
    async with FakeGemini() as fake, aiohttp.ClientSession() as session:
        account, public_pem = make_service_account(TOKEN_URI)
        fake.token_public_key = public_pem

        async def post_form(url: str, fields: Mapping[str, str]) -> tuple[int, bytes]:
            async with session.post(url, data=dict(fields)) as response:
                return response.status, await response.read()

        tokens = VertexTokenSource(account, post_form, token_url=fake.token_url)
        headers = await tokens.headers()
        assert headers["Authorization"] == f"Bearer {fake.issued_tokens[0]}"
        other, _ = make_service_account(TOKEN_URI)  # signed with a key the fake does not trust
        with pytest.raises(UpstreamStatusError, match="invalid_grant"):
            await VertexTokenSource(other, post_form, token_url=fake.token_url).token()


async def test_short_lived_tokens_are_used_for_half_their_life() -> None:
    server, clock = TokenServer(body={"access_token": "short", "expires_in": 60}), Clock()
    tokens = source(server, clock, refresh_margin=300)
    await tokens.token()
    clock.now += 29
    await tokens.token()
    assert len(server.calls) == 1
    clock.now += 2
    await tokens.token()
    assert len(server.calls) == 2
