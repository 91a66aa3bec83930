"""Helpers shared by the sink and forwarder tests (no tests here): audit rows written straight into ``audit_log``
(sinks read rows by ``seq`` and never check the chain, so the hashes here are only well-formed), and fake
receivers — a generic webhook and a Splunk HTTP Event Collector that checks the token and the body the way
Splunk does — as real aiohttp servers on a free port."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import func, insert, select, update

from wardgate.storage.database import Database
from wardgate.storage.schema import audit_cursors, audit_head, audit_log

T0 = datetime(2026, 11, 30, 7, 0, 0, tzinfo=UTC)
HEC_TOKEN = "11111111-2222-3333-4444-555555555555"


def request_record(seq: int, *, team: str | None = "team_a", content: bool = True, **fields: Any) -> dict[str, Any]:
    """A request record in the trail's shape (version 1)."""
    record: dict[str, Any] = {
        "v": 1,
        "id": f"aud_test_{seq:06d}",
        "kind": "request",
        "at": (T0 + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "request_id": f"req_{seq}",
        "principal": {"kind": "key", "key_id": f"key_{seq % 3}", "user_id": None, "team_id": team},
        "client": {"address": "127.0.0.1", "user_agent": "OpenAI/Python 1.x"},
        "dialect": "openai",
        "endpoint": "chat.completions",
        "model": "gpt-4o",
        "stream": False,
        "status": 200,
        "error": None,
        "attempts": [{"deployment": "openai/gpt-4o", "provider": "openai", "status": 200, "duration_ms": 12.5}],
        "latency_ms": {"before_upstream": 0.4, "total": 13.0},
        "usage": {"input": 12, "output": 30, "cached": 0, "reasoning": 0, "cache_write": 0},
        "cost_usd": "0.000330",
        "cost_known": True,
        "cache_hit": False,
        "decisions": [],
        "flags": [],
    }
    if content:
        record["content"] = {"mode": "full", "prompt": [{"role": "user", "content": f"question {seq}"}]}
    record.update(fields)
    return record


def admin_record(seq: int, *, team: str | None = "team_a") -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"aud_test_{seq:06d}",
        "kind": "admin",
        "at": (T0 + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "request_id": f"req_{seq}",
        "actor": {"kind": "session", "id": "user_olga"},
        "action": "create",
        "object": {"kind": "key", "id": f"key_{seq}"},
        "team_id": team,
        "before": None,
        "after": {"name": f"key {seq}", "role": "member"},
    }


async def add_records(db: Database, records: list[dict[str, Any]], *, purged: frozenset[str] = frozenset()) -> None:
    """Append records after the trail's last ``seq`` (ids in ``purged`` are stored with their record cleared)."""
    async with db.engine.begin() as conn:
        head = await conn.execute(update(audit_head).where(audit_head.c.id == 1).values(updated_at=datetime.now(UTC)))
        assert head.rowcount == 1  # locked: a writer of the real chain appends after these rows
        top = await conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0)))
        last = max(int(top.scalar_one()), int((await conn.execute(select(audit_head.c.seq))).scalar_one()))
        for offset, record in enumerate(records, start=1):
            data = orjson.dumps(record)
            principal = record.get("principal") or {}
            flags = ",".join(record.get("flags") or []) or None
            gone = record["id"] in purged
            await conn.execute(
                insert(audit_log).values(
                    seq=last + offset,
                    id=record["id"],
                    at=datetime.fromisoformat(record["at"].replace("Z", "+00:00")),
                    kind=record["kind"],
                    request_id=record.get("request_id"),
                    team_id=record.get("team_id", principal.get("team_id")),
                    key_id=principal.get("key_id"),
                    user_id=principal.get("user_id") or (record.get("actor") or {}).get("id"),
                    model=record.get("model"),
                    status=record.get("status"),
                    flags=flags,
                    record=None if gone else data.decode(),
                    record_hash=hashlib.sha256(data).hexdigest(),
                    purged_at=T0 + timedelta(days=400) if gone else None,
                    prev_hash="0" * 64,
                    hash=hashlib.sha256(f"{last + offset}".encode()).hexdigest(),
                )
            )
        await conn.execute(update(audit_head).where(audit_head.c.id == 1).values(seq=last + len(records)))


async def add_requests(db: Database, first: int, count: int, **fields: Any) -> list[str]:
    """``count`` request records numbered from ``first``; returns their ids."""
    records = [request_record(n, **fields) for n in range(first, first + count)]
    await add_records(db, records)
    return [r["id"] for r in records]


async def cursor_of(db: Database, name: str) -> dict[str, Any] | None:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(audit_cursors).where(audit_cursors.c.name == name))).mappings().first()
    return dict(row) if row is not None else None


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until ``check()`` is true (polling); fails the test after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# --- fake receivers --------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook (``kind="webhook"``) or Splunk HEC (``kind="hec"``) receiver. ``script`` holds answers to give
    before accepting (a status, or a (status, headers) pair); ``keep_failed`` also keeps the records of requests it
    failed (a receiver that stored a batch and then failed to say so). ``hold`` makes it wait before answering."""

    kind: str = "webhook"
    token: str = HEC_TOKEN
    indexes: frozenset[str] = frozenset({"main", "wardgate"})
    max_records: int | None = None
    script: list[Any] = field(default_factory=list)
    keep_failed: bool = False
    hold: asyncio.Event | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every record accepted (for HEC: the ``event`` of each event), in arrival order, duplicates included."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """HEC: the event objects as sent (envelope included)."""
    headers: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> Receiver:
        app = web.Application()
        route = "/services/collector/event" if self.kind == "hec" else "/hook"
        app.router.add_post(route, self._hec if self.kind == "hec" else self._webhook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}" + ("" if self.kind == "hec" else "/hook")
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def ids(self) -> list[str]:
        return [r["id"] for r in self.received]

    def _scripted(self) -> web.Response | None:
        if not self.script:
            return None
        answer = self.script.pop(0)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        body: dict[str, Any] = {"text": "Server is busy", "code": 9} if status == 503 else {"error": "scripted"}
        return web.json_response(body, status=status, headers=headers)

    async def _webhook(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.headers.append(dict(request.headers))
        self.arrived.set()
        records = await request.json()
        assert isinstance(records, list) and all(isinstance(r, dict) for r in records)
        if self.max_records is not None and len(records) > self.max_records:
            return web.json_response({"error": "too large"}, status=413)
        if self.hold is not None:
            self.received.extend(records)
            await self.hold.wait()
            return web.json_response({"ok": True})
        failed = self._scripted()
        if failed is None or self.keep_failed:
            self.received.extend(records)
        return failed or web.json_response({"ok": True})

    async def _hec(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.headers.append(dict(request.headers))
        auth = request.headers.get("Authorization")
        if auth is None:
            return web.json_response({"text": "Token is required", "code": 2}, status=401)
        scheme, _, token = auth.partition(" ")
        if scheme != "Splunk":
            return web.json_response({"text": "Invalid authorization", "code": 3}, status=401)
        if token != self.token:
            return web.json_response({"text": "Invalid token", "code": 4}, status=403)
        raw = await request.text()
        if not raw.strip():
            return web.json_response({"text": "No data", "code": 5}, status=400)
        events, problem = parse_hec_body(raw, self.indexes)
        if problem is not None:
            status, body = problem
            return web.json_response(body, status=status)
        failed = self._scripted()
        if failed is None or self.keep_failed:
            self.events.extend(events)
            self.received.extend(e["event"] for e in events)
        return failed or web.json_response({"text": "Success", "code": 0})


HEC_FIELDS = frozenset({"time", "host", "source", "sourcetype", "index", "event", "fields"})


def parse_hec_body(raw: str, indexes: frozenset[str]) -> tuple[list[dict[str, Any]], tuple[int, dict[str, Any]] | None]:
    """Events of a HEC batch body (JSON objects one after another), or the error HEC answers for it."""
    decoder = json.JSONDecoder()
    events: list[dict[str, Any]] = []
    pos = 0
    while pos < len(raw):
        while pos < len(raw) and raw[pos].isspace():
            pos += 1
        if pos == len(raw):
            break
        invalid = {"text": "Invalid data format", "code": 6, "invalid-event-number": len(events)}
        try:
            event, pos = decoder.raw_decode(raw, pos)
        except json.JSONDecodeError:
            return events, (400, invalid)
        if not isinstance(event, dict) or not set(event) <= HEC_FIELDS:
            return events, (400, invalid)
        if "event" not in event:
            return events, (400, {"text": "Event field is required", "code": 12, "invalid-event-number": len(events)})
        if event["event"] in ("", {}, None):
            return events, (
                400,
                {"text": "Event field cannot be blank", "code": 13, "invalid-event-number": len(events)},
            )
        if "time" in event and not isinstance(event["time"], (int, float)):
            return events, (400, invalid)
        if "index" in event and event["index"] not in indexes:
            return events, (400, {"text": "Incorrect index", "code": 7, "invalid-event-number": len(events)})
        events.append(event)
    return events, None
