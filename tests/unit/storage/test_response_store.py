"""The Responses store on a real SQLite file: cache, write-behind, owners, expiry, conversation chains, and a
second store instance (another replica or worker) reading what the first wrote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from wardgate.storage.responses import ResponseStore, responses_table


def engine_factory(path: Path) -> Any:
    return lambda: create_engine(f"sqlite:///{path}")


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
async def store(tmp_path: Path) -> AsyncIterator[ResponseStore]:
    made = ResponseStore(engine_factory(tmp_path / "db.sqlite"), retention_seconds=3600, miss_retries=())
    await made.start()
    yield made
    await made.close()


def rows(path: Path) -> list[Any]:
    engine: Engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        found = list(conn.execute(select(responses_table.c.id, responses_table.c.owner)))
    engine.dispose()
    return found


async def test_put_is_readable_at_once_and_written_behind(store: ResponseStore, tmp_path: Path) -> None:
    store.put("key-a", response("resp_1", "hi"), [user("hello")], None, [])
    record = await store.get("resp_1", "key-a")
    assert record is not None and record.response["output"][0]["content"][0]["text"] == "hi"
    for _ in range(100):
        if rows(tmp_path / "db.sqlite"):
            break
        await asyncio.sleep(0.01)
    assert [tuple(r) for r in rows(tmp_path / "db.sqlite")] == [("resp_1", "key-a")]


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


async def test_second_instance_reads_what_the_first_wrote(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = ResponseStore(engine_factory(path), retention_seconds=3600, miss_retries=())
    second = ResponseStore(engine_factory(path), retention_seconds=3600, miss_retries=(0.05, 0.1, 0.2, 0.4))
    await first.start()
    await second.start()
    try:
        first.put("k", response("resp_x", "shared"), [user("q")], None, [])
        record = await second.get("resp_x", "k")  # written behind: found by the retry on a miss
        assert record is not None and record.input_items == [user("q")]
    finally:
        await first.close()
        await second.close()


async def test_close_flushes_pending_writes(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    made = ResponseStore(engine_factory(path), retention_seconds=3600, flush_interval=10.0)
    await made.start()
    for index in range(50):
        made.put("k", response(f"resp_{index}", "x"), [], None, [])
    await made.close()
    assert len(rows(path)) == 50


async def test_expired_records_are_gone(tmp_path: Path) -> None:
    made = ResponseStore(engine_factory(tmp_path / "db.sqlite"), retention_seconds=0.05, miss_retries=())
    await made.start()
    try:
        made.put("k", response("resp_old", "x"), [], None, [])
        await asyncio.sleep(0.1)
        assert await made.get("resp_old", "k") is None
    finally:
        await made.close()
    restarted = ResponseStore(engine_factory(tmp_path / "db.sqlite"), retention_seconds=60, miss_retries=())
    await restarted.start()  # start purges expired rows
    await restarted.close()
    assert rows(tmp_path / "db.sqlite") == []


async def test_delete_removes_cache_and_row(store: ResponseStore, tmp_path: Path) -> None:
    store.put("k", response("resp_d", "x"), [], None, [])
    await asyncio.sleep(0.1)
    assert await store.delete("resp_d", "k")
    assert await store.get("resp_d", "k") is None
    assert rows(tmp_path / "db.sqlite") == []


async def test_cache_is_bounded_and_falls_back_to_sql(tmp_path: Path) -> None:
    made = ResponseStore(engine_factory(tmp_path / "db.sqlite"), retention_seconds=60, cache_entries=2, miss_retries=())
    await made.start()
    try:
        for index in range(5):
            made.put("k", response(f"resp_{index}", str(index)), [], None, [])
        await asyncio.sleep(0.1)
        assert len(made._cache) == 2
        record = await made.get("resp_0", "k")
        assert record is not None and record.response["output"][0]["content"][0]["text"] == "0"
    finally:
        await made.close()


async def test_failed_writes_are_retried_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    made = ResponseStore(engine_factory(path), retention_seconds=60, miss_retries=())
    await made.start()
    good = made._engine
    made._engine = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite'}")  # every write fails
    try:
        made.put("k", response("resp_r", "x"), [], None, [])
        deadline = time.monotonic() + 2
        while made.write_failures == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert made.write_failures >= 1
        made._engine = good
        deadline = time.monotonic() + 3
        while not rows(path) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [r.id for r in rows(path)] == ["resp_r"]
    finally:
        await made.close()
