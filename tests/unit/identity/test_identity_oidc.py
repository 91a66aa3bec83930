"""OIDC sign-in against a running fake OpenID Provider: discovery, the authorization URL, the full code + PKCE flow,
PKCE / nonce / state / expiry failures, client authentication styles, open-redirect protection, session cookies."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from yarl import URL

from wardgate.core.errors import AuthenticationError, InvalidRequestError
from wardgate.core.keys import hash_key
from wardgate.core.types import Role
from wardgate.identity.jwt import map_claims
from wardgate.identity.oidc import (
    LoginStart,
    OidcClient,
    OidcSettings,
    PendingLogins,
    clear_session_cookie_header,
    new_session_token,
    parse_callback,
    safe_return_to,
    session_cookie_header,
    session_token_from_cookies,
)
from wardgate.testing.fake_oidc import FakeOidc

REDIRECT = "http://127.0.0.1:4000/ui/auth/callback"
SECRET = "s3cret+with/odd:chars"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def idp() -> AsyncIterator[FakeOidc]:
    async with FakeOidc(client_secret=SECRET, redirect_uris=[REDIRECT]) as fake:
        fake.set_user("alice", "alice@example.com", groups=["platform"], roles=["leads"])
        yield fake


def settings_for(idp: FakeOidc, **changes: Any) -> OidcSettings:
    base: dict[str, Any] = {
        "issuer": idp.url,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "redirect_uri": REDIRECT,
        "role_map": {"leads": "team_admin"},
    }
    return OidcSettings(**{**base, **changes})


@pytest.fixture
async def client(idp: FakeOidc) -> AsyncIterator[OidcClient]:
    client = OidcClient(settings_for(idp))
    await client.discover()
    yield client
    await client.close()


async def authorize(login: LoginStart) -> dict[str, str]:
    """What a browser does: GET the authorization URL, read (not follow) the redirect back to us."""
    async with aiohttp.ClientSession() as http, http.get(login.authorization_url, allow_redirects=False) as response:
        assert response.status == 302
        location = URL(response.headers["Location"])
    assert str(location.with_query(None)) == REDIRECT
    return dict(location.query)


# ------------------------------------------------------------------------------------------------ flow


async def test_full_login_flow(idp: FakeOidc, client: OidcClient) -> None:
    pending = PendingLogins()
    login = client.start_login("/ui/keys?tab=mine")
    pending.put(login)
    state, code = parse_callback(await authorize(login))
    taken = pending.take(state)
    assert taken is login and taken.return_to == "/ui/keys?tab=mine"
    identity = await client.finish_login(taken, code)
    assert (identity.subject, identity.email, identity.teams, identity.roles) == (
        "alice",
        "alice@example.com",
        ("platform",),
        ("leads",),
    )
    assert "nonce" not in identity.claims
    principal = map_claims(identity, client.settings, {"platform": "team-1"}, user_id="usr_1", kind="session")
    assert dict(principal.teams) == {"team-1": Role.TEAM_ADMIN} and principal.user_id == "usr_1"
    [token_request] = [request for request in idp.requests if request.path == "/token"]
    assert idp.last_client_auth == "client_secret_basic"
    assert b"code_verifier=" in token_request.body and SECRET.encode() not in token_request.body


async def test_authorization_url_carries_pkce_state_and_nonce(client: OidcClient) -> None:
    login = client.start_login(None)
    url = URL(login.authorization_url)
    assert str(url.with_query(None)) == client.metadata.authorization_endpoint  # type: ignore[union-attr]
    query = url.query
    assert query["response_type"] == "code" and query["client_id"] == client.settings.client_id
    assert query["redirect_uri"] == REDIRECT and query["scope"] == "openid email profile"
    assert query["state"] == login.state and len(login.state) >= 43
    assert query["nonce"] == login.nonce and login.nonce != login.state
    expected = base64.urlsafe_b64encode(hashlib.sha256(login.code_verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == expected and query["code_challenge_method"] == "S256"
    assert 43 <= len(login.code_verifier) <= 128 and "code_verifier" not in query
    assert login.return_to == "/"
    other = client.start_login(None)
    assert (other.state, other.nonce, other.code_verifier) != (login.state, login.nonce, login.code_verifier)


async def test_client_secret_post_and_public_clients(idp: FakeOidc) -> None:
    post = OidcClient(settings_for(idp, token_auth_method="client_secret_post"))
    try:
        await post.discover()
        login = post.start_login()
        assert (await post.finish_login(login, parse_callback(await authorize(login))[1])).subject == "alice"
        assert idp.last_client_auth == "client_secret_post"
    finally:
        await post.close()
    async with FakeOidc(client_secret=None) as public_idp:
        public = OidcClient(settings_for(public_idp, client_secret=None))
        try:
            await public.discover()
            login = public.start_login()
            assert (await public.finish_login(login, parse_callback(await authorize(login))[1])).subject == "alice"
            assert public_idp.last_client_auth == "none"
        finally:
            await public.close()


# -------------------------------------------------------------------------------------------- failures


async def test_pkce_mismatch_is_refused(client: OidcClient) -> None:
    login = client.start_login()
    _, code = parse_callback(await authorize(login))
    forged = replace(login, code_verifier="x" * 64)
    with pytest.raises(AuthenticationError, match=r"refused the sign-in \(invalid_grant\)") as caught:
        await client.finish_login(forged, code)
    assert login.code_verifier not in caught.value.message


async def test_nonce_mismatch_is_refused(client: OidcClient) -> None:
    login = client.start_login()
    _, code = parse_callback(await authorize(login))
    with pytest.raises(AuthenticationError, match="nonce mismatch"):
        await client.finish_login(replace(login, nonce="another-login"), code)


async def test_an_id_token_for_another_authorized_party_is_refused(idp: FakeOidc, client: OidcClient) -> None:
    idp.set_user("alice", aud=[idp.client_id, "other-app"], azp="other-app")
    login = client.start_login()
    with pytest.raises(AuthenticationError, match="another client"):
        await client.finish_login(login, parse_callback(await authorize(login))[1])
    idp.set_user("alice", aud=[idp.client_id, "other-app"])  # azp defaults to us: several audiences are fine then
    login = client.start_login()
    assert (await client.finish_login(login, parse_callback(await authorize(login))[1])).subject == "alice"


async def test_a_code_works_once(client: OidcClient) -> None:
    login = client.start_login()
    _, code = parse_callback(await authorize(login))
    await client.finish_login(login, code)
    with pytest.raises(AuthenticationError, match="invalid_grant"):
        await client.finish_login(login, code)


async def test_a_wrong_client_secret_is_refused(idp: FakeOidc) -> None:
    client = OidcClient(settings_for(idp, client_secret="wrong"))
    try:
        await client.discover()
        login = client.start_login()
        with pytest.raises(AuthenticationError, match=r"\(invalid_client\)") as caught:
            await client.finish_login(login, parse_callback(await authorize(login))[1])
        assert "wrong" not in caught.value.message
    finally:
        await client.close()


async def test_a_denied_sign_in_comes_back_as_an_error(idp: FakeOidc, client: OidcClient) -> None:
    idp.login_error = "access_denied"
    query = await authorize(client.start_login())
    with pytest.raises(AuthenticationError, match=r"did not sign you in \(access_denied\)"):
        parse_callback(query)
    with pytest.raises(AuthenticationError, match=r"\(error\)"):  # free text from the provider is not echoed
        parse_callback({"error": "<script>alert(1)</script>"})
    with pytest.raises(AuthenticationError, match="lacks a valid state or code"):
        parse_callback({"state": "abc"})


def test_state_is_single_use_and_expires() -> None:
    clock = Clock()
    pending = PendingLogins(ttl=600, clock=clock)
    login = LoginStart("state-1", "n", "v", clock.now, "/", "https://idp/authorize")
    pending.put(login)
    assert pending.take("state-1") is login
    with pytest.raises(AuthenticationError, match="unknown or was already used"):
        pending.take("state-1")
    pending.put(replace(login, state="state-2"))
    clock.now += 601
    with pytest.raises(AuthenticationError, match="expired"):
        pending.take("state-2")
    with pytest.raises(AuthenticationError, match="unknown"):
        pending.take("never-issued")


def test_pending_logins_are_bounded_and_purged() -> None:
    clock = Clock()
    pending = PendingLogins(ttl=600, max_size=3, clock=clock)
    for n in range(5):
        pending.put(LoginStart(f"s{n}", "n", "v", clock.now, "/", "u"))
    assert len(pending) == 3
    with pytest.raises(AuthenticationError):
        pending.take("s0")  # the oldest went first
    clock.now += 601
    pending.put(LoginStart("fresh", "n", "v", clock.now, "/", "u"))
    assert len(pending) == 1


async def test_finish_login_refuses_an_expired_attempt(idp: FakeOidc) -> None:
    clock = Clock()
    client = OidcClient(settings_for(idp), clock=clock)
    try:
        await client.discover()
        login = client.start_login()
        _, code = parse_callback(await authorize(login))
        clock.now += 601
        with pytest.raises(AuthenticationError, match="expired"):
            await client.finish_login(login, code)
    finally:
        await client.close()


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example/path",
        "/ok\r\nSet-Cookie: x=1",
        "/\t/evil.example",
        "/" + "a" * 3000,
    ],
)
async def test_open_redirects_are_refused(client: OidcClient, target: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        client.start_login(target)
    assert caught.value.param == "return_to" and caught.value.http_status == 400


def test_relative_paths_are_accepted() -> None:
    assert safe_return_to("/ui/keys?tab=1#top") == "/ui/keys?tab=1#top"
    assert safe_return_to(None) == safe_return_to("") == "/"


async def test_discovery_must_name_the_configured_issuer() -> None:
    async with FakeOidc(issuer="https://idp.example.com") as idp:
        client = OidcClient(settings_for(idp))
        try:
            with pytest.raises(AuthenticationError, match="names another issuer") as caught:
                await client.discover()
            assert caught.value.code == "identity_provider_unavailable"
            with pytest.raises(RuntimeError):
                client.start_login()
        finally:
            await client.close()


def test_settings_validation_and_repr_hide_secrets() -> None:
    settings = OidcSettings(
        issuer="https://idp.example.com", client_id="c", client_secret=SECRET, redirect_uri=REDIRECT
    )
    assert SECRET not in repr(settings) and "client_id='c'" in repr(settings)
    login = LoginStart("state-xyz", "nonce-xyz", "verifier-xyz", 0.0, "/", "https://idp/authorize?state=state-xyz")
    assert "xyz" not in repr(login)
    base: dict[str, Any] = {"issuer": "https://idp.example.com", "client_id": "c", "redirect_uri": REDIRECT}
    for bad in (
        {"scopes": ("email",)},
        {"token_auth_method": "private_key_jwt"},
        {"redirect_uri": "http://gateway.example.com/cb"},
        {"issuer": "http://idp.example.com"},
        {"clock_skew_seconds": 3600},
        {"client_id": ""},
    ):
        with pytest.raises(ValueError):
            OidcSettings(**{**base, **bad})
    OidcSettings(**{**base, "redirect_uri": "http://gateway.internal/cb", "allow_insecure_http": True})


# ------------------------------------------------------------------------------------------- sessions


def test_session_tokens_and_cookies() -> None:
    token = new_session_token()
    assert token.startswith("wgs_") and len(token) >= 4 + 43 and token != new_session_token()
    assert len(hash_key(token)) == 64  # what the integrator stores
    assert session_cookie_header(token, 3600) == (
        f"wardgate_session={token}; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax"
    )
    assert "Secure" not in session_cookie_header(token, 60, secure=False)
    assert clear_session_cookie_header() == (
        "wardgate_session=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Lax"
    )
    for bad in ("a;b", "x\r\nSet-Cookie: y", "", "é"):
        with pytest.raises(ValueError) as caught:
            session_cookie_header(bad, 60)
        assert bad not in str(caught.value) or bad == ""
    assert session_token_from_cookies(f"theme=dark; wardgate_session={token}; other=1") == token
    assert session_token_from_cookies("wardgate_session=not-ours") is None
    assert session_token_from_cookies(None) is None
