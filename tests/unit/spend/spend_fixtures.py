"""Helpers shared by the spend tests (no tests here): records with known attributions and what the tables hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from wardgate.spend.record import SpendRecord
from wardgate.storage.database import Database
from wardgate.storage.schema import spend_ledger, spend_rollups

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
TEAMS = ("team_a", "team_b", "team_c")
MODELS = ("gpt-4o", "claude-sonnet", "gemini-pro")


def make(i: int, at: datetime | None = None, **fields: Any) -> SpendRecord:
    """A deterministic record: attribution cycles through teams, models, keys; cost depends on ``i``."""
    values: dict[str, Any] = {
        "id": f"spend_test_{i:06d}",
        "request_id": f"req_{i}",
        "at": at or T0 + timedelta(seconds=37 * i),
        "org_id": "org_acme",
        "team_id": TEAMS[i % 3],
        "project_id": f"proj_{i % 2}",
        "key_id": f"key_{i % 4}",
        "user_id": f"user_{i % 5}" if i % 5 else None,
        "agent": "planner" if i % 2 else None,
        "app": "chatbot",
        "model": MODELS[i % 3],
        "provider": ("openai", "anthropic", "gemini")[i % 3],
        "deployment": f"dep-{i % 3}",
        "upstream_model": MODELS[i % 3] + "-2026",
        "tags": ("batch", f"t{i % 2}") if i % 3 else (),
        "endpoint": "chat.completions",
        "stream": bool(i % 2),
        "status": 200 if i % 7 else 429,
        "input_tokens": 100 + i,
        "output_tokens": 10 + i % 13,
        "cached_input_tokens": i % 11,
        "cache_write_tokens": i % 3,
        "reasoning_tokens": i % 5,
        "cost_usd": Decimal("0.000001234") * (i + 1),
        "cost_known": i % 10 != 0,
    }
    values.update(fields)
    return SpendRecord(**values)


def batch(n: int, start: int = 0) -> list[SpendRecord]:
    return [make(i) for i in range(start, start + n)]


async def ledger_rows(db: Database) -> dict[str, dict[str, Any]]:
    async with db.engine.connect() as conn:
        return {row["id"]: dict(row) for row in (await conn.execute(select(spend_ledger))).mappings()}


async def count_rows(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(spend_ledger))).scalar_one())


async def rollups(db: Database, bucket: str) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        found = await conn.execute(select(spend_rollups).where(spend_rollups.c.bucket == bucket))
        return [dict(row) for row in found.mappings()]


def totals(records: Iterator[SpendRecord] | list[SpendRecord]) -> dict[str, Any]:
    """What the rollups of one bucket kind must sum to."""
    found: dict[str, Any] = {"requests": 0, "unpriced_requests": 0, "input_tokens": 0, "output_tokens": 0}
    found["cost_usd"] = Decimal(0)
    for r in records:
        found["requests"] += 1
        found["unpriced_requests"] += 0 if r.cost_known else 1
        found["input_tokens"] += r.input_tokens
        found["output_tokens"] += r.output_tokens
        found["cost_usd"] += r.cost_usd
    return found


def summed(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("requests", "unpriced_requests", "input_tokens", "output_tokens", "cost_usd")
    return {k: sum((row[k] for row in rows), Decimal(0) if k == "cost_usd" else 0) for k in keys}
