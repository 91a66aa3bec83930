"""The Responses API store: what ``GET /v1/responses/{id}``, its input items and ``previous_response_id`` continuation
read. Reads hit an in-process LRU first (a conversation's next turn normally finds its previous response there) and
SQL only on a miss; writes land in the cache at once and reach SQL behind the request, in batches. A failed write
is retried, never dropped silently; every row carries its owner (another owner gets "not found") and its expiry.

A miss is retried briefly before it is reported, so a response written behind by another replica or worker a
moment ago is still found.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.storage.database import Database
from wardgate.storage.schema import responses as responses_table

_log = logging.getLogger("wardgate.storage.responses")

MISS_RETRIES = (0.05, 0.1, 0.2)
MAX_PENDING = 10_000
MAX_CHAIN = 1_000


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    owner: str
    previous_id: str | None
    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    carried_output: list[dict[str, Any]]
    """The output items the next turn carries as input (the gateway's own reasoning items are left out)."""
    expires_at: float


class ResponseStore:
    def __init__(
        self,
        db: Database,
        *,
        retention_seconds: float,
        cache_entries: int = 10_000,
        flush_interval: float = 0.02,
        miss_retries: tuple[float, ...] = MISS_RETRIES,
    ) -> None:
        self._db = db
        self._engine: AsyncEngine | None = None
        self.retention = retention_seconds
        self._cache: OrderedDict[str, StoredResponse] = OrderedDict()
        self._cache_entries = cache_entries
        self._pending: list[StoredResponse] = []
        self._deleted: set[str] = set()
        self._wake = asyncio.Event()
        self._flush_interval = flush_interval
        self._miss_retries = miss_retries
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.write_failures = 0
        self.dropped = 0

    async def start(self) -> None:
        """Purge expired rows and start the writer (the schema is the migrations' job)."""
        self._engine = self._db.engine
        async with self._engine.begin() as conn:
            await conn.execute(delete(responses_table).where(responses_table.c.expires_at < time.time()))
        self._writer = asyncio.create_task(self._write_loop())

    def put(
        self,
        owner: str,
        response: dict[str, Any],
        input_items: list[dict[str, Any]],
        previous_id: str | None,
        carried_output: list[dict[str, Any]],
    ) -> StoredResponse:
        record = StoredResponse(
            id=str(response["id"]),
            owner=owner,
            previous_id=previous_id,
            response=response,
            input_items=input_items,
            carried_output=carried_output,
            expires_at=time.time() + self.retention,
        )
        self._remember(record)
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(0)
            self.dropped += 1
            _log.error("response store write queue full: the oldest unwritten response was dropped")
        self._pending.append(record)
        self._wake.set()
        return record

    async def get(self, response_id: str, owner: str) -> StoredResponse | None:
        record = self._cache.get(response_id)
        if record is None and response_id not in self._deleted:
            record = await self._load(response_id)
            for pause in self._miss_retries:
                if record is not None:
                    break
                await asyncio.sleep(pause)
                record = self._cache.get(response_id) or await self._load(response_id)
            if record is not None:
                self._remember(record)
        if record is None or record.owner != owner or record.expires_at < time.time():
            return None
        self._cache.move_to_end(response_id)
        return record

    async def conversation(self, response_id: str, owner: str) -> list[dict[str, Any]] | None:
        """Every item of the conversation up to and including ``response_id``'s output, oldest first."""
        turns: list[StoredResponse] = []
        current: str | None = response_id
        while current is not None and len(turns) < MAX_CHAIN:
            record = await self.get(current, owner)
            if record is None:
                if not turns:
                    return None
                break  # an earlier turn expired or was deleted: continue from what is left
            turns.append(record)
            current = record.previous_id
        items: list[dict[str, Any]] = []
        for record in reversed(turns):
            items.extend(record.input_items)
            items.extend(record.carried_output)
        return items

    async def delete(self, response_id: str, owner: str) -> bool:
        record = await self.get(response_id, owner)
        if record is None:
            return False
        self._deleted.add(response_id)
        self._cache.pop(response_id, None)
        self._pending = [r for r in self._pending if r.id != response_id]
        engine = self._engine
        if engine is not None:
            async with engine.begin() as conn:
                await conn.execute(delete(responses_table).where(responses_table.c.id == response_id))
        return True

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            await self._writer

    def _remember(self, record: StoredResponse) -> None:
        self._cache[record.id] = record
        self._cache.move_to_end(record.id)
        while len(self._cache) > self._cache_entries:
            self._cache.popitem(last=False)

    async def _load(self, response_id: str) -> StoredResponse | None:
        engine = self._engine
        if engine is None:
            return None
        try:
            return await _select_row(engine, response_id)
        except Exception:
            _log.exception("response store read failed")
            return None

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await asyncio.sleep(self._flush_interval)  # gather a batch
            batch, self._pending = self._pending, []
            if batch and self._engine is not None:
                try:
                    await _insert_rows(self._engine, batch)
                except Exception:
                    self.write_failures += 1
                    _log.exception("response store write failed; retrying")
                    self._pending = batch + self._pending
                    if self._closing:
                        return
                    await asyncio.sleep(1.0)
                    self._wake.set()
                    continue
            if self._closing and not self._pending:
                return


async def _insert_rows(engine: AsyncEngine, batch: list[StoredResponse]) -> None:
    rows = [
        {
            "id": r.id,
            "owner": r.owner,
            "created_at": datetime.now(UTC),
            "expires_at": r.expires_at,
            "previous_id": r.previous_id,
            "response": orjson.dumps(r.response).decode(),
            "input_items": orjson.dumps({"input": r.input_items, "carried": r.carried_output}).decode(),
        }
        for r in batch
    ]
    async with engine.begin() as conn:
        await conn.execute(delete(responses_table).where(responses_table.c.id.in_([r["id"] for r in rows])))
        await conn.execute(insert(responses_table), rows)


async def _select_row(engine: AsyncEngine, response_id: str) -> StoredResponse | None:
    table = responses_table
    query = select(
        table.c.id, table.c.owner, table.c.previous_id, table.c.response, table.c.input_items, table.c.expires_at
    ).where(table.c.id == response_id)
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    items = orjson.loads(row.input_items)
    return StoredResponse(
        id=row.id,
        owner=row.owner,
        previous_id=row.previous_id,
        response=orjson.loads(row.response),
        input_items=items["input"],
        carried_output=items["carried"],
        expires_at=row.expires_at,
    )
