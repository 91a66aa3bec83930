"""The ``/auth/*`` ASGI handlers in process, on SQLite and PostgreSQL, against ``FakeOidc``: sign-in with
membership sync on and off, an unreachable identity provider (503, then recovery), logout with ``return_to``,
repeated query parameters, identity-change callbacks. The end-to-end browser flow is in
``tests/integration/test_sso_login.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import orjson
import pytest

from wardgate.api.auth import SsoRoutes, build_sso
from wardgate.api.proxy import RequestIds
from wardgate.config.auth_config import OidcConfig
from wardgate.core.types import Role
from wardgate.storage import org, org_users
from wardgate.storage.database import Database
from wardgate.testing import FakeOidc

REDIRECT = "http://127.0.0.1:4000/auth/callback"


class Answer:
    def __init__(self, messages: list[dict[str, Any]]) -> None:
        start = messages[0]
        self.status: int = start["status"]
        self.headers: list[tuple[str, str]] = [(k.decode(), v.decode()) for k, v in start["headers"]]
        self.body = b"".join(m.get("body", b"") for m in messages[1:])

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def cookies(self) -> dict[str, str]:
        found = [value.split(";")[0].partition("=") for key, value in self.headers if key == "set-cookie"]
        return {name: value for name, _, value in found}

    def json(self) -> Any:
        return orjson.loads(self.body)


async def call(app: SsoRoutes, method: str, path: str, query: str = "", cookies: str | None = None) -> Answer:
    messages: list[dict[str, Any]] = []
    headers = [(b"host", b"127.0.0.1:4000")] + ([(b"cookie", cookies.encode())] if cookies else [])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(), "headers": headers}
    await app({**scope, "scheme": "http"}, receive, send)
    return Answer(messages)


@pytest.fixture
async def idp() -> AsyncIterator[FakeOidc]:
    async with FakeOidc(client_secret=None) as fake:  # a public client: PKCE only
        yield fake


def make_routes(idp_url: str, database: Database, changes: list[str], **options: Any) -> SsoRoutes:
    config = OidcConfig.model_validate(
        {"issuer": idp_url, "client_id": "wardgate-test", "redirect_uri": REDIRECT, "cookie_secure": False} | options
    )

    async def changed() -> None:
        changes.append("changed")

    return build_sso(config, database, request_id=RequestIds(), on_identity_change=changed)


async def sign_in(routes: SsoRoutes, return_to: str = "/") -> Answer:
    start = await call(routes, "GET", "/auth/login", urlencode({"return_to": return_to}))
    assert start.status == 302, start.body
    async with (
        aiohttp.ClientSession() as http,
        http.get(start.header("location") or "", allow_redirects=False) as answer,
    ):
        callback = urlsplit(answer.headers["Location"])
    binding = f"wardgate_login={start.cookies()['wardgate_login']}"
    return await call(routes, "GET", callback.path, callback.query, cookies=binding)


@pytest.fixture
async def platform(database: Database) -> str:
    async with database.engine.begin() as conn:
        return str((await org.create_team(conn, "platform"))["id"])


async def test_sign_in_syncs_memberships_and_reports_the_change(
    idp: FakeOidc, database: Database, platform: str
) -> None:
    changes: list[str] = []
    routes = make_routes(idp.url, database, changes, role_map={"leads": "team_admin"})
    idp.set_user("dana", "dana@example.com", groups=["platform"], roles=["leads"])
    done = await sign_in(routes, "/ui")
    assert done.status == 302 and done.header("location") == "/ui" and changes == ["changed"]
    token = done.cookies()["wardgate_session"]
    session = await call(routes, "GET", "/auth/session", cookies=f"wardgate_session={token}")
    assert session.status == 200 and session.json()["teams"] == {platform: "team_admin"}
    again = await sign_in(routes)  # nothing new to write: no identity change
    assert again.status == 302 and changes == ["changed"]
    old = await call(routes, "GET", "/auth/session", cookies=f"wardgate_session={token}")
    assert old.status == 200  # two browsers, two sessions
    await routes.close()


async def test_without_sync_sign_in_grants_nothing(idp: FakeOidc, database: Database, platform: str) -> None:
    routes = make_routes(idp.url, database, [], sync_memberships=False, role_map={"leads": "org_admin"})
    idp.set_user("erin", "erin@example.com", groups=["platform"], roles=["leads"])
    done = await sign_in(routes)
    token = done.cookies()["wardgate_session"]
    session = (await call(routes, "GET", "/auth/session", cookies=f"wardgate_session={token}")).json()
    assert session["teams"] == {} and session["org_role"] is None
    async with database.engine.begin() as conn:  # an admin grants a role; the session shows it after a cache clear
        await org_users.add_member(conn, platform, session["user_id"], Role.VIEWER)
    routes.sessions.clear_cache()
    session = (await call(routes, "GET", "/auth/session", cookies=f"wardgate_session={token}")).json()
    assert session["teams"] == {platform: "viewer"}
    await routes.close()


async def test_an_unreachable_provider_is_a_503_until_it_answers(idp: FakeOidc, database: Database) -> None:
    routes = make_routes(idp.url, database, [])
    await idp.stop()
    down = await call(routes, "GET", "/auth/login")
    assert down.status == 503 and down.json()["error"]["code"] == "identity_provider_unavailable"
    assert down.header("cache-control") == "no-store" and down.header("location") is None
    await idp.start(port=int(urlsplit(routes.config.issuer).port or 0))
    assert (await sign_in(routes)).status == 302
    await routes.close()


async def test_logout_with_return_to_redirects_and_clears_the_cookie(idp: FakeOidc, database: Database) -> None:
    routes = make_routes(idp.url, database, [])
    token = (await sign_in(routes)).cookies()["wardgate_session"]
    cookie = f"wardgate_session={token}"
    out = await call(routes, "POST", "/auth/logout", "return_to=/bye", cookies=cookie)
    assert out.status == 403  # no Origin and no x-wardgate-csrf: refused before anything happens
    assert (await call(routes, "GET", "/auth/session", cookies=cookie)).status == 200
    out = await call(routes, "POST", "/auth/logout", "return_to=/bye")  # no cookie: nothing to protect
    assert out.status == 303 and out.header("location") == "/bye" and out.cookies() == {"wardgate_session": ""}
    await routes.close()


async def test_a_repeated_query_parameter_is_refused(idp: FakeOidc, database: Database) -> None:
    routes = make_routes(idp.url, database, [])
    answer = await call(routes, "GET", "/auth/login", "return_to=/a&return_to=https://evil.example")
    assert answer.status == 400 and "more than once" in answer.json()["error"]["message"]
    await routes.close()


async def test_cookies_are_secure_by_default(idp: FakeOidc, database: Database) -> None:
    routes = make_routes(idp.url, database, [], redirect_uri="https://gw.example.com/auth/callback", cookie_secure=True)
    start = await call(routes, "GET", "/auth/login")
    [binding] = [value for key, value in start.headers if key == "set-cookie"]
    assert binding.endswith("; Path=/auth/callback; HttpOnly; Secure; SameSite=Lax")
    done = await sign_in(routes)
    session = next(value for key, value in done.headers if key == "set-cookie" and "wardgate_session=" in value)
    assert session.endswith("; Path=/; HttpOnly; Secure; SameSite=Lax") and "Max-Age=43200" in session
    await routes.close()
