"""What every admin route gets: the caller (``Admin.actor``, authenticated like the proxy API: master key, virtual
key, JWT bearer token or a sign-in session), the database, the request id, and a transaction that records the
admin change with it and tells the identity caches once it is committed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.errors import GatewayError
from wardgate.core.types import Principal
from wardgate.runtime import AppState
from wardgate.storage.changes import Change, record_change
from wardgate.storage.database import Database

MAX_PAGE = 1000


@dataclass(slots=True)
class Admin:
    state: AppState
    actor: Principal
    request_id: str

    @property
    def db(self) -> Database:
        if self.state.db is None:
            raise GatewayError("The database is not available.", status=503, code="database_unavailable")
        return self.state.db

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.db.engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def change(self) -> AsyncIterator[Changes]:
        """A transaction for one admin change: ``changes.record(Change(...))`` inside it; identity caches are told
        after the commit."""
        async with self.db.engine.begin() as conn:
            yield Changes(conn, self)
        await self.state.identity_changed()


@dataclass(slots=True)
class Changes:
    conn: AsyncConnection
    admin: Admin

    async def record(self, change: Change) -> None:
        await record_change(self.conn, self.admin.actor, change, self.admin.request_id)


def _state(request: Request) -> AppState:
    get_state: Callable[[], AppState] = request.app.state.get_state
    return get_state()


async def admin_context(request: Request) -> Admin:
    state = _state(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    actor = await state.authenticate(headers)
    request_id: str = request.app.state.request_id(headers)
    request.state.request_id = request_id
    return Admin(state, actor, request_id)


AdminDep = Annotated[Admin, Depends(admin_context)]


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    after: str | None


def page(limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100, after: Annotated[str | None, Query()] = None) -> Page:
    return Page(limit, after)


PageDep = Annotated[Page, Depends(page)]


def listing(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """The list envelope every admin list route answers with (cursor: the last item's id)."""
    return {
        "object": "list",
        "data": items,
        "has_more": len(items) == limit,
        "last_id": items[-1]["id"] if items else None,
    }
