"""Budgets on principals of people: a session principal in exactly one team gets that team's ``BudgetSet`` (and
its limits alongside) from the ``Authenticator``, with no SQL; in several teams, none. (Keys' principals are covered
through the admin API in ``tests/unit/api/admin/test_admin_budget_fields.py``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from test_identity_cache import add_team, now

from wardgate.config.budgets_config import BudgetSet
from wardgate.config.limits_config import LimitSet
from wardgate.core.keys import hash_key
from wardgate.core.types import Principal, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.identity.cache import IdentityCache
from wardgate.storage.database import Database
from wardgate.storage.schema import teams

SESSION = {"cookie": "wardgate_session=wgs_" + "a" * 43}


@pytest.fixture
async def cache(database: Database) -> AsyncIterator[IdentityCache]:
    identity = IdentityCache(poll_interval=0)
    yield identity
    await identity.close()


async def set_team(db: Database, team_id: str, seconds: float = 0, **values: Any) -> None:
    async with db.engine.begin() as conn:
        at = now() + timedelta(seconds=seconds)
        await conn.execute(update(teams).where(teams.c.id == team_id).values(updated_at=at, **values))


class Resolver:
    def __init__(self, answer: Principal) -> None:
        self.answer = answer

    async def __call__(self, token: str) -> Principal | None:
        return self.answer


async def test_a_person_in_one_team_gets_its_team_budget(database: Database, cache: IdentityCache) -> None:
    platform, search = await add_team(database, "platform"), await add_team(database, "search")
    await set_team(database, platform, budgets={"amount_usd": 50, "period": "weekly"}, limits={"concurrent": 2})
    await cache.start(database)
    assert cache.team_budget(platform) == BudgetSet(amount_usd=50, period="weekly")
    assert cache.team_budget(search) is None
    one = Principal(key_id="user:u1", kind="session", user_id="u1", teams={platform: Role.MEMBER})
    auth = Authenticator(hash_key("wg-master"), cache, session_resolver=Resolver(one))
    seen = await auth.authenticate(SESSION)
    assert dict(seen.budgets) == {"team": BudgetSet(amount_usd=50, period="weekly")}
    assert dict(seen.limits) == {"team": LimitSet(concurrent=2)}

    two = Principal(key_id="user:u2", kind="session", teams={platform: Role.MEMBER, search: Role.MEMBER})
    auth.session_resolver = Resolver(two)
    assert await auth.authenticate(SESSION) is two

    await set_team(database, platform, seconds=0.001, budgets={}, limits={})
    await cache.refresh()
    auth.session_resolver = Resolver(one)
    assert await auth.authenticate(SESSION) is one
