"""The in-process gateway the admin key tests talk to (no tests here): the real app on SQLite or PostgreSQL, started
and stopped through its own startup/shutdown, reached over ASGI. Virtual keys and the master key authenticate as in
production; people (sign-in sessions, which need an identity provider) are stood in for by fixed principals
behind ``Bearer person-<name>`` — everything after authentication is the real code.

Import the fixture with ``from test_admin_keys_harness import gate_fixture  # noqa: F401`` (it is named ``gate``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx2
import pytest
import yaml
from sqlalchemy import insert

from wardgate import app as app_module
from wardgate.app import Gateway, create_app
from wardgate.core.types import Principal, Role
from wardgate.runtime import AppState
from wardgate.settings import Settings
from wardgate.storage.database import Database
from wardgate.storage.schema import memberships, orgs, projects, service_principals, teams, users

MASTER = "wg-admin-keys-test-master-key"
PLATFORM, SEARCH = "team_platform", "team_search"
CONFIG = {
    "providers": [{"name": "sim", "type": "simulated"}],
    "models": [
        {
            "name": "simulated-chat",
            "aliases": ["chat"],
            "deployments": [{"provider": "sim", "model": "simulated-chat"}],
        },
        {"name": "simulated-reasoning", "deployments": [{"provider": "sim", "model": "simulated-reasoning"}]},
    ],
}
_TEAM_ROLES = {
    "alice": (PLATFORM, Role.MEMBER),
    "bob": (PLATFORM, Role.MEMBER),
    "carol": (PLATFORM, Role.TEAM_ADMIN),
    "vera": (PLATFORM, Role.VIEWER),
    "dave": (SEARCH, Role.MEMBER),
}


def person(name: str) -> Principal:
    """A signed-in person as the authenticator would resolve them (``user_<name>`` in the users table)."""
    org_role = {"audrey": Role.AUDITOR, "olga": Role.ORG_ADMIN}.get(name)
    team = _TEAM_ROLES.get(name)
    return Principal(
        key_id=f"user:user_{name}",
        kind="session",
        org_role=org_role,
        teams=MappingProxyType({team[0]: team[1]} if team else {}),
        user_id=f"user_{name}",
    )


PEOPLE: Mapping[str, Principal] = {
    f"person-{name}": person(name) for name in (*_TEAM_ROLES, "audrey", "olga", "nobody")
}


async def seed(db: Database) -> None:
    now = datetime.now(UTC)
    base = {"metadata": {}, "created_at": now, "updated_at": now}
    async with db.engine.begin() as conn:
        await conn.execute(insert(orgs).values(id="org_acme", name="acme", **base))
        for team_id, name in ((PLATFORM, "platform"), (SEARCH, "search")):
            await conn.execute(insert(teams).values(id=team_id, org_id="org_acme", name=name, **base))
        await conn.execute(insert(projects).values(id="proj_bots", team_id=PLATFORM, name="bots", **base))
        await conn.execute(insert(projects).values(id="proj_index", team_id=SEARCH, name="index", **base))
        await conn.execute(
            insert(service_principals).values(id="sp_ci", team_id=PLATFORM, name="ci", kind="app", **base)
        )
        for token, who in PEOPLE.items():
            name = token.removeprefix("person-")
            await conn.execute(
                insert(users).values(
                    id=who.user_id,
                    org_id="org_acme",
                    email=f"{name}@example.com",
                    org_role=who.org_role,
                    disabled=False,
                    **base,
                )
            )
            for team_id, role in who.teams.items():
                await conn.execute(
                    insert(memberships).values(
                        user_id=who.user_id, team_id=team_id, role=role, created_at=now, updated_at=now
                    )
                )


@dataclass
class Gate:
    app: Gateway
    http: httpx2.AsyncClient

    @property
    def state(self) -> AppState:
        assert self.app.state is not None
        return self.app.state

    async def call(
        self, method: str, path: str, *, who: str = MASTER, json: Any = None, params: Any = None
    ) -> httpx2.Response:
        """``who``: a key (``wg-…``), or a person's name from ``PEOPLE`` (alice, carol, dave, audrey, …)."""
        token = who if who.startswith("wg-") else f"person-{who}"
        headers = {"Authorization": f"Bearer {token}"}
        return await self.http.request(method, "/admin/v1" + path, headers=headers, json=json, params=params)

    async def create(self, who: str = MASTER, **body: Any) -> dict[str, Any]:
        """Create a key (the team defaults to platform); asserts 201 and returns the answer with its secret."""
        response = await self.call("POST", "/keys", who=who, json={"team": "platform", **body})
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def me(self, key: str) -> int:
        """The status a key gets on an authenticated admin route (200 while it is valid, 401 after)."""
        return (await self.call("GET", "/me", who=key)).status_code


@pytest.fixture(name="gate")
async def gate_fixture(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Gate]:
    monkeypatch.setattr(app_module, "tune_gc", lambda: None)  # a test process must not freeze its heap
    original = AppState.authenticate

    async def authenticate(self: AppState, headers: Mapping[str, str]) -> Principal:
        token = headers.get("authorization", "").removeprefix("Bearer ")
        return PEOPLE[token] if token in PEOPLE else await original(self, headers)

    monkeypatch.setattr(AppState, "authenticate", authenticate)
    config = tmp_path / "wardgate.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    app = create_app(Settings(config_path=config, data_dir=tmp_path, master_key=MASTER, database_url=database_url))
    await app.startup()
    try:
        assert app.state is not None and app.state.db is not None
        await seed(app.state.db)
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            yield Gate(app, http)
    finally:
        await app.shutdown()
