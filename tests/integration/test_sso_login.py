"""OIDC sign-in end to end: a real gateway process configured with ``auth.oidc`` against ``FakeOidc``, driven like a
browser with aiohttp (no redirect following: every hop is checked). The session cookie then authenticates the admin
API and the proxy API; logout revokes it server-side; states work once; a tampered PKCE challenge, an open redirect
and cross-origin writes are refused; IdP groups and roles become memberships and org roles; no secret reaches the
gateway's log."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from gateway_process import GatewayProcess
from integration_env import MASTER_KEY
from yarl import URL

from wardgate.testing import FakeOidc, FakeServerThread

pytestmark = pytest.mark.integration
CLIENT_SECRET = "oidc-client-secret-5f1e2d"
ROLE_MAP = {"platform-leads": "team_admin", "gw-auditors": "auditor", "gw-admins": "org_admin"}
CHAT = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeOidc]:
    fake = FakeOidc(client_secret=CLIENT_SECRET)
    runner: FakeServerThread = fake.run_in_thread()
    try:
        yield fake
    finally:
        runner.close()


@pytest.fixture(scope="module")
def gateway(idp: FakeOidc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("sso")
    process = GatewayProcess(workdir, {}, master_key=MASTER_KEY, env={"TEST_OIDC_SECRET": CLIENT_SECRET})
    oidc = {
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": "${TEST_OIDC_SECRET}",
        "redirect_uri": process.url + "/auth/callback",
        "cookie_secure": False,
        "role_map": ROLE_MAP,
    }
    process.write_config(
        {
            "auth": {"oidc": oidc},
            "providers": [{"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 100000}],
            "models": [{"name": "sim-chat", "deployments": [{"provider": "sim", "model": "sim-chat"}]}],
        }
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def teams(gateway: GatewayProcess) -> dict[str, str]:
    """Teams "platform" and "research", created by the master key."""
    found = {}
    for name in ("platform", "research"):
        request = urllib.request.Request(
            gateway.url + "/admin/v1/teams",
            data=f'{{"name": "{name}"}}'.encode(),
            headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            found[name] = json.loads(response.read())["id"]
    return found


@dataclass
class Hop:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str] = field(default_factory=list)

    @property
    def location(self) -> str:
        return self.headers["location"]

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Browser:
    """A browser that follows no redirect by itself and keeps the gateway's cookies (name → (value, path)),
    sending each only under its path, as a browser does."""

    http: aiohttp.ClientSession
    gateway: GatewayProcess
    jar: dict[str, tuple[str, str]] = field(default_factory=dict)
    seen_secrets: list[str] = field(default_factory=list)

    @property
    def session(self) -> str | None:
        found = self.jar.get("wardgate_session")
        return found[0] if found else None

    async def request(self, method: str, url: str, *, cookies: dict[str, str] | None = None, **kwargs: Any) -> Hop:
        """``cookies``: send exactly these instead of the jar's (a replay, another browser)."""
        headers: dict[str, str] = dict(kwargs.pop("headers", {}))
        mine = url.startswith(self.gateway.url)
        path = urlsplit(url).path
        sent = cookies if cookies is not None else {n: v for n, (v, p) in self.jar.items() if path.startswith(p)}
        if mine and sent:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in sent.items())
        async with self.http.request(
            method, URL(url, encoded=True), headers=headers, allow_redirects=False, **kwargs
        ) as response:
            body = await response.read()
            hop = Hop(response.status, {k.lower(): v for k, v in response.headers.items()}, body)
            hop.cookies = response.headers.getall("Set-Cookie", [])
        if mine:
            self._store(hop.cookies)
        return hop

    def _store(self, set_cookies: list[str]) -> None:
        for header in set_cookies:
            first, *attributes = [part.strip() for part in header.split(";")]
            name, _, value = first.partition("=")
            options = dict(attribute.partition("=")[::2] for attribute in attributes)
            if not value or options.get("Max-Age") == "0":
                self.jar.pop(name, None)
            else:
                self.jar[name] = (value, options.get("Path", "/"))

    async def start(self, return_to: str = "/admin/v1/me") -> Hop:
        hop = await self.request("GET", f"{self.gateway.url}/auth/login?{urlencode({'return_to': return_to})}")
        assert hop.status == 302, hop.body
        return hop

    async def authorize(self, authorize_url: str) -> str:
        """The IdP's answer: the callback URL with code and state."""
        hop = await self.request("GET", authorize_url)
        assert hop.status == 302, hop.body
        query = parse_qs(urlsplit(hop.location).query)
        self.seen_secrets += query["code"] + query["state"]
        return hop.location

    async def sign_in(self, return_to: str = "/admin/v1/me") -> Hop:
        callback = await self.authorize((await self.start(return_to)).location)
        hop = await self.request("GET", callback)
        assert hop.status == 302, hop.body
        assert self.session is not None
        self.seen_secrets.append(self.session)
        return hop


def cookie_named(hop: Hop, name: str) -> tuple[str, list[str]] | None:
    """(value, attributes) of the ``Set-Cookie`` for ``name`` in ``hop``."""
    for header in hop.cookies:
        first, *attributes = [part.strip() for part in header.split(";")]
        if first.partition("=")[0] == name:
            return first.partition("=")[2], attributes
    return None


def session_cookie(hop: Hop) -> str | None:
    found = cookie_named(hop, "wardgate_session")
    return found[0] or None if found else None


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
async def browser(gateway: GatewayProcess, idp: FakeOidc) -> AsyncIterator[Browser]:
    idp.set_user("alice", "alice@example.com", groups=["platform"], roles=["gateway-user"], name="Alice")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        yield Browser(http, gateway)


async def test_full_sign_in_then_the_cookie_authenticates_and_logout_revokes_it(
    browser: Browser, gateway: GatewayProcess, idp: FakeOidc, teams: dict[str, str]
) -> None:
    start = await browser.start("/ui/keys?tab=mine")
    assert start.headers["cache-control"] == "no-store" and session_cookie(start) is None
    authorize = urlsplit(start.location)
    assert start.location.startswith(idp.url + "/authorize?")
    query = parse_qs(authorize.query)
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [idp.client_id]
    assert query["redirect_uri"] == [gateway.url + "/auth/callback"] and "openid" in query["scope"][0].split()
    assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32 and len(query["code_challenge"][0]) == 43
    binding = cookie_named(start, "wardgate_login")  # ties the sign-in to this browser
    assert binding is not None and binding[0] == query["state"][0]
    assert {"HttpOnly", "SameSite=Lax", "Path=/auth/callback", "Max-Age=600"} <= set(binding[1])

    callback = await browser.authorize(start.location)
    assert callback.startswith(gateway.url + "/auth/callback?")
    done = await browser.request("GET", callback)
    assert done.status == 302 and done.location == "/ui/keys?tab=mine"
    assert idp.last_client_auth == "client_secret_basic"
    found = cookie_named(done, "wardgate_session")
    assert found is not None and found[0].startswith("wgs_")
    token, attributes = found
    assert {"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"} <= set(attributes)
    assert "Secure" not in attributes  # cookie_secure: false (http://127.0.0.1 only)
    assert "wardgate_login" not in browser.jar  # cleared by the callback
    browser.seen_secrets.append(token)

    me = await browser.request("GET", gateway.url + "/admin/v1/me")
    assert me.status == 200, me.body
    assert me.json()["kind"] == "session" and me.json()["teams"] == {teams["platform"]: "member"}
    session = await browser.request("GET", gateway.url + "/auth/session")
    assert session.status == 200 and session.json()["email"] == "alice@example.com"
    assert session.json()["name"] == "Alice" and session.json()["user_id"] == me.json()["user_id"]
    chat_url, origin = gateway.base_url + "/chat/completions", same_origin(gateway)
    chat = await browser.request("POST", chat_url, json=CHAT, headers=origin)
    assert chat.status == 200, chat.body

    out = await browser.request("POST", gateway.url + "/auth/logout", headers=origin)
    assert out.status == 200 and out.json()["signed_out"] is True
    assert session_cookie(out) is None and browser.session is None
    replay = {"wardgate_session": token}  # the old cookie, sent again
    replayed = await browser.request("GET", gateway.url + "/admin/v1/me", cookies=replay)
    assert replayed.status == 401 and replayed.json()["error"]["code"] == "invalid_session"
    assert (await browser.request("GET", gateway.url + "/auth/session", cookies=replay)).status == 401
    chat = await browser.request("POST", chat_url, json=CHAT, headers=origin, cookies=replay)
    assert chat.status == 401

    log = gateway.log()
    for secret in [CLIENT_SECRET, *browser.seen_secrets, *idp_secrets(idp)]:
        assert secret not in log
    assert "signed in" in log


async def test_a_callback_opened_in_another_browser_signs_nobody_in(browser: Browser, gateway: GatewayProcess) -> None:
    """Login CSRF: the attacker's own callback URL, opened in the victim's browser, is refused."""
    callback = await browser.authorize((await browser.start()).location)
    victim = await browser.request("GET", callback, cookies={})
    assert victim.status == 401 and victim.json()["error"]["code"] == "login_not_bound"
    assert session_cookie(victim) is None
    other_state = await browser.request("GET", callback, cookies={"wardgate_login": "some-other-state"})
    assert other_state.status == 401


def idp_secrets(idp: FakeOidc) -> list[str]:
    """What passed between the gateway and the IdP: PKCE verifiers and nonces, codes, ID and access tokens."""
    found: list[str] = []
    for request in idp.requests:
        if request.path == "/token":
            form = parse_qs(request.body.decode())
            found += form.get("code_verifier", []) + form.get("code", [])
        found += [request.query[name] for name in ("nonce", "state", "code_challenge") if name in request.query]
    assert found, "the IdP saw no sign-in"
    return found


def same_origin(gateway: GatewayProcess) -> dict[str, str]:
    return {"Origin": gateway.url}


async def test_a_state_works_only_once(browser: Browser, gateway: GatewayProcess) -> None:
    callback = await browser.authorize((await browser.start()).location)
    first = await browser.request("GET", callback)
    assert first.status == 302 and session_cookie(first) is not None
    state = parse_qs(urlsplit(callback).query)["state"][0]
    again = await browser.request("GET", callback, cookies={"wardgate_login": state})  # even with its binding
    assert again.status == 401 and session_cookie(again) is None
    assert "already used" in again.json()["error"]["message"]


async def test_a_tampered_pkce_challenge_gets_no_session(
    browser: Browser, gateway: GatewayProcess, idp: FakeOidc
) -> None:
    start = await browser.start()
    parts = urlsplit(start.location)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    query["code_challenge"] = s256("an-attacker-chosen-verifier-" + "x" * 30)
    callback = await browser.authorize(f"{idp.url}/authorize?{urlencode(query)}")
    done = await browser.request("GET", callback)
    assert done.status == 401 and session_cookie(done) is None
    assert done.json()["error"]["message"] == "The identity provider refused the sign-in (invalid_grant)."


async def test_an_open_redirect_is_refused(browser: Browser, gateway: GatewayProcess, idp: FakeOidc) -> None:
    authorize_hits = idp.hits["/authorize"]
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        hop = await browser.request("GET", f"{gateway.url}/auth/login?{urlencode({'return_to': target})}")
        assert hop.status == 400 and "location" not in hop.headers, target
        assert hop.json()["error"]["param"] == "return_to"
    assert idp.hits["/authorize"] == authorize_hits


async def test_idp_groups_and_roles_become_memberships_and_follow_the_idp(
    browser: Browser, gateway: GatewayProcess, idp: FakeOidc, teams: dict[str, str]
) -> None:
    idp.set_user("bob", "bob@example.com", groups=["platform", "research", "ghost"], roles=["platform-leads"])
    await browser.sign_in()
    me = (await browser.request("GET", gateway.url + "/admin/v1/me")).json()
    assert me["teams"] == {teams["platform"]: "team_admin", teams["research"]: "team_admin"}
    assert me["org_role"] is None
    members = await browser.request("GET", f"{gateway.url}/admin/v1/teams/{teams['research']}/members")
    assert members.status == 200 and [m["email"] for m in members.json()["data"]] == ["bob@example.com"]

    idp.set_user("bob", "bob@example.com", groups=["platform"], roles=["gw-auditors"])
    await browser.sign_in()
    me = (await browser.request("GET", gateway.url + "/admin/v1/me")).json()
    assert me["teams"] == {teams["platform"]: "member"} and me["org_role"] == "auditor"


async def test_cookie_writes_need_same_origin_proof(browser: Browser, gateway: GatewayProcess) -> None:
    await browser.sign_in()
    for headers in ({}, {"Origin": "https://evil.example"}, {"Origin": "null"}, {"Referer": "https://evil.example/"}):
        hop = await browser.request("POST", gateway.base_url + "/chat/completions", json=CHAT, headers=headers)
        assert hop.status == 403 and hop.json()["error"]["code"] == "csrf_failed", headers
        hop = await browser.request("POST", gateway.url + "/auth/logout", headers=headers)
        assert hop.status == 403, headers
        hop = await browser.request("POST", gateway.url + "/admin/v1/teams", json={"name": "x"}, headers=headers)
        assert hop.status == 403, headers
    assert (await browser.request("GET", gateway.url + "/auth/session")).status == 200  # still signed in
    proof = {"x-wardgate-csrf": "1"}
    hop = await browser.request("POST", gateway.base_url + "/chat/completions", json=CHAT, headers=proof)
    assert hop.status == 200
    referer = {"Referer": gateway.url + "/ui/keys"}
    hop = await browser.request("POST", gateway.base_url + "/chat/completions", json=CHAT, headers=referer)
    assert hop.status == 200
    keyed = {"Authorization": f"Bearer {MASTER_KEY}"}  # an API key: the cookie plays no part, no proof needed
    hop = await browser.request("POST", gateway.base_url + "/chat/completions", json=CHAT, headers=keyed)
    assert hop.status == 200


async def test_a_disabled_user_loses_the_session_and_cannot_sign_in(
    browser: Browser, gateway: GatewayProcess, idp: FakeOidc
) -> None:
    idp.set_user("carol", "carol@example.com", groups=["platform"])
    await browser.sign_in()
    user_id = (await browser.request("GET", gateway.url + "/auth/session")).json()["user_id"]
    master = {"Authorization": f"Bearer {MASTER_KEY}"}
    disabled = await browser.request("DELETE", f"{gateway.url}/admin/v1/users/{user_id}", headers=master)
    assert disabled.status == 200, disabled.body
    assert (await browser.request("GET", gateway.url + "/admin/v1/me")).status == 401
    callback = await browser.authorize((await browser.start()).location)
    refused = await browser.request("GET", callback)
    assert (
        refused.status == 403 and refused.json()["error"]["code"] == "user_disabled" and session_cookie(refused) is None
    )


async def test_unknown_auth_routes_and_methods(browser: Browser, gateway: GatewayProcess) -> None:
    assert (await browser.request("GET", gateway.url + "/auth/nope")).status == 404
    assert (await browser.request("GET", gateway.url + "/auth/logout")).status == 405
    assert (await browser.request("GET", gateway.url + "/auth/session")).status == 401
    hop = await browser.request("GET", gateway.url + "/auth/callback?error=access_denied&state=x")
    assert hop.status == 401 and "access_denied" in hop.json()["error"]["message"]
