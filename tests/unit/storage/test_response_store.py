"""The Responses store on SQLite and PostgreSQL: cache, write-behind, owners, expiry, conversation chains, and a
second store instance (another replica or worker) reading what the first wrote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from wardgate.storage.database import Database
from wardgate.storage.responses import ResponseStore
from wardgate.storage.schema import responses as responses_table


def response(rid: str, text: str) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "status": "completed",
        "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}],
    }


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


@pytest.fixture
async def store(database: Database) -> AsyncIterator[ResponseStore]:
    made = ResponseStore(database, retention_seconds=3600, miss_retries=())
    await made.start()
    yield made
    await made.close()


async def rows(db: Database) -> list[tuple[str, str]]:
    async with db.engine.connect() as conn:
        result = await conn.execute(select(responses_table.c.id, responses_table.c.owner))
        return [(r.id, r.owner) for r in result]


async def wait_rows(db: Database, count: int, within: float = 3.0) -> list[tuple[str, str]]:
    deadline = time.monotonic() + within
    found = await rows(db)
    while len(found) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        found = await rows(db)
    return found


async def test_put_is_readable_at_once_and_written_behind(store: ResponseStore, database: Database) -> None:
    store.put("key-a", response("resp_1", "hi"), [user("hello")], None, [])
    record = await store.get("resp_1", "key-a")
    assert record is not None and record.response["output"][0]["content"][0]["text"] == "hi"
    assert await wait_rows(database, 1) == [("resp_1", "key-a")]


async def test_other_owner_sees_nothing(store: ResponseStore) -> None:
    store.put("key-a", response("resp_1", "hi"), [], None, [])
    assert await store.get("resp_1", "key-b") is None
    assert await store.conversation("resp_1", "key-b") is None
    assert not await store.delete("resp_1", "key-b")
    assert await store.get("resp_1", "key-a") is not None


async def test_conversation_walks_the_chain(store: ResponseStore) -> None:
    out1 = response("resp_1", "first answer")["output"]
    store.put("k", response("resp_1", "first answer"), [user("q1")], None, out1)
    out2 = response("resp_2", "second answer")["output"]
    store.put("k", response("resp_2", "second answer"), [user("q2")], "resp_1", out2)
    items = await store.conversation("resp_2", "k")
    assert items == [user("q1"), *out1, user("q2"), *out2]


async def test_second_instance_reads_what_the_first_wrote(database_url: str) -> None:
    first_db, second_db = Database(database_url), Database(database_url)
    first = ResponseStore(first_db, retention_seconds=3600, miss_retries=())
    second = ResponseStore(second_db, retention_seconds=3600, miss_retries=(0.05, 0.1, 0.2, 0.4))
    await first.start()
    await second.start()
    try:
        first.put("k", response("resp_x", "shared"), [user("q")], None, [])
        record = await second.get("resp_x", "k")  # written behind: found by the retry on a miss
        assert record is not None and record.input_items == [user("q")]
    finally:
        await first.close()
        await second.close()
        await first_db.close()
        await second_db.close()


async def test_close_flushes_pending_writes(database: Database) -> None:
    made = ResponseStore(database, retention_seconds=3600, flush_interval=10.0)
    await made.start()
    for index in range(50):
        made.put("k", response(f"resp_{index}", "x"), [], None, [])
    await made.close()
    assert len(await rows(database)) == 50


async def test_expired_records_are_gone(database: Database) -> None:
    made = ResponseStore(database, retention_seconds=0.05, miss_retries=())
    await made.start()
    try:
        made.put("k", response("resp_old", "x"), [], None, [])
        await asyncio.sleep(0.1)
        assert await made.get("resp_old", "k") is None
    finally:
        await made.close()
    restarted = ResponseStore(database, retention_seconds=60, miss_retries=())
    await restarted.start()  # start purges expired rows
    await restarted.close()
    assert await rows(database) == []


async def test_delete_removes_cache_and_row(store: ResponseStore, database: Database) -> None:
    store.put("k", response("resp_d", "x"), [], None, [])
    await wait_rows(database, 1)
    assert await store.delete("resp_d", "k")
    assert await store.get("resp_d", "k") is None
    assert await rows(database) == []


async def test_cache_is_bounded_and_falls_back_to_sql(database: Database) -> None:
    made = ResponseStore(database, retention_seconds=60, cache_entries=2, miss_retries=())
    await made.start()
    try:
        for index in range(5):
            made.put("k", response(f"resp_{index}", str(index)), [], None, [])
        await wait_rows(database, 5)
        assert len(made._cache) == 2
        record = await made.get("resp_0", "k")
        assert record is not None and record.response["output"][0]["content"][0]["text"] == "0"
    finally:
        await made.close()


async def test_failed_writes_are_retried_not_lost(database: Database, tmp_path: Any) -> None:
    made = ResponseStore(database, retention_seconds=60, miss_retries=())
    await made.start()
    broken = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables: every write fails
    good = made._engine
    made._engine = broken.engine
    try:
        made.put("k", response("resp_r", "x"), [], None, [])
        deadline = time.monotonic() + 2
        while made.write_failures == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert made.write_failures >= 1
        made._engine = good
        assert [r[0] for r in await wait_rows(database, 1)] == ["resp_r"]
    finally:
        await made.close()
        await broken.close()
