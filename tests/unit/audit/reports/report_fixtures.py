"""A database with known rows for the report tests (no tests here): an org with two teams and two people, keys
(one rotated, one revoked, one expired, one created after the period), provider credentials, admin changes in the
change log and in the audit trail (some in both, as the gateway writes them), request records (answered,
refused, would-be refused, purged by retention, unauthenticated, flagged PHI) and spend ledger rows. Hashes are
dummies; every secret-looking value is a marker the tests look for in the output."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result
from sqlalchemy import insert

from wardgate.cli import main
from wardgate.spend.record import SpendRecord
from wardgate.spend.ship import write_batch
from wardgate.storage.database import Database
from wardgate.storage.schema import admin_changes, audit_log, credentials, orgs, teams, users, virtual_keys

START, END = "2026-11-01", "2026-11-30"
KEY_PREFIX = "wg-ZQXJ"
"""The keys' display prefix: a piece of the secret, never to be printed."""
SECRET_MARKERS = (KEY_PREFIX, "f" * 56, "SEALED-BLOB-XYZ", "FPRINT-XYZ", "L4X9")


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def key(ident: str, n: int, team: str, user: str | None, created: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "key_hash": f"{'f' * 56}{n:08d}",
        "key_prefix": KEY_PREFIX,
        "name": fields.pop("name", ident.replace("key_", "") + "-key"),
        "team_id": team,
        "user_id": user,
        "role": "member",
        "enabled": True,
        "limits": {},
        "budgets": {},
        "metadata": {},
        "created_by": "usr_ann",
        "created_at": created,
        "updated_at": created,
        "revoked_at": None,
        "rotated_to": None,
        "expires_at": None,
        **fields,
    }


KEYS = [
    key("key_old", 1, "team_sup", "usr_bob", at(1, month=10), revoked_at=at(10)),
    key("key_a1", 2, "team_clin", "usr_ann", at(15, month=10), rotated_to="key_a2"),
    key("key_a2", 3, "team_clin", "usr_ann", at(5)),
    key("key_svc", 4, "team_sup", None, at(12), expires_at=at(20)),
    key("key_future", 5, "team_sup", None, at(5, month=12)),
]


def change(
    when: datetime,
    actor: tuple[str, str],
    action: str,
    kind: str,
    ident: str,
    team: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "at": when,
        "actor_kind": actor[0],
        "actor_id": actor[1],
        "action": action,
        "object_kind": kind,
        "object_id": ident,
        "team_id": team,
        "before": before,
        "after": after,
        "request_id": f"req-admin-{ident}-{action}",
    }


ANN, BOB, MASTER = ("session", "usr_ann"), ("session", "usr_bob"), ("master", "master")
CHANGES_BOTH = [  # in the change log and in the trail, as the gateway writes them
    change(at(5), ANN, "rotate", "key", "key_a1", "team_clin", {"enabled": True}, {"rotated_to": "key_a2"}),
    change(at(5), ANN, "create", "key", "key_a2", "team_clin", None, {"id": "key_a2"}),
    change(at(10), BOB, "revoke", "key", "key_old", "team_sup", {"revoked_at": None}, {"revoked_at": "x"}),
    change(
        at(12),
        MASTER,
        "update",
        "team",
        "team_sup",
        "team_sup",
        {"name": "support", "limits": {}},
        {"name": "support", "limits": {"rpm": 10}},
    ),
]
CHANGES_LOG_ONLY = [  # before the trail existed: only the change log has them
    change(at(15, month=10), ANN, "create", "key", "key_a1", "team_clin", None, {"id": "key_a1"}),
    change(at(7), MASTER, "rotate", "credential", "cred_openai", None, {"version": 1}, {"version": 2}),
]

PHI_FULL = {"mode": "full", "prompt": {"messages": [{"role": "user", "content": "MRN: 00456789"}]}}
PHI_REDACTED = {"mode": "redacted", "prompt": {"messages": [{"role": "user", "content": "MRN: [REDACTED:MRN]"}]}}


def request(
    seq: int,
    when: datetime,
    principal: tuple[str | None, str | None, str | None] | None,
    model: str,
    status: int,
    **fields: Any,
) -> dict[str, Any]:
    """An audit_log row (and its record) for one request; ``principal`` is (team, user, key)."""
    team, user, key_id = principal or (None, None, None)
    attempts = fields.pop("attempts", [("openai/gpt-4o", "openai", "gpt-4o-2024-08-06", status)])
    record: dict[str, Any] = {
        "v": 1,
        "id": f"aud_req_{seq}",
        "kind": "request",
        "at": when.isoformat().replace("+00:00", "Z"),
        "request_id": f"req-{seq}",
        "principal": None
        if principal is None
        else {"kind": "key", "key_id": key_id, "user_id": user, "team_id": team, "project_id": None},
        "model": model,
        "status": status,
        "error": fields.pop("error", None),
        "attempts": [
            {"deployment": d, "provider": p, "model": m, "route": model, "status": s, "error": None}
            for d, p, m, s in attempts
        ],
        "usage": fields.pop("usage", None),
        "cost_usd": fields.pop("cost", None),
        "cost_known": True,
        "cache_hit": False,
        "decisions": fields.pop("decisions", []),
        "flags": fields.pop("flags", []),
    }
    if "content" in fields:
        record["content"] = fields.pop("content")
    purged = fields.pop("purged", False)
    return row(seq, record, team, user, key_id, model, status, purged)


def row(
    seq: int,
    record: dict[str, Any],
    team: str | None,
    user: str | None,
    key_id: str | None,
    model: str | None,
    status: int | None,
    purged: bool = False,
) -> dict[str, Any]:
    flags = ",".join(record.get("flags") or []) or None
    return {
        "seq": seq,
        "id": record["id"],
        "at": datetime.fromisoformat(record["at"].replace("Z", "+00:00")),
        "kind": record["kind"],
        "request_id": record.get("request_id"),
        "team_id": team,
        "key_id": key_id,
        "user_id": user,
        "model": model,
        "status": status,
        "flags": flags,
        "record": None if purged else orjson.dumps(record).decode(),
        "record_hash": "a" * 64,
        "purged_at": at(25) if purged else None,
        "prev_hash": "b" * 64,
        "hash": "c" * 64,
    }


def admin_row(seq: int, values: dict[str, Any], *, purged: bool = False) -> dict[str, Any]:
    record = {
        "v": 1,
        "id": f"aud_adm_{seq}",
        "kind": "admin",
        "at": values["at"].isoformat().replace("+00:00", "Z"),
        "request_id": values["request_id"],
        "actor": {"kind": values["actor_kind"], "id": values["actor_id"]},
        "action": values["action"],
        "object": {"kind": values["object_kind"], "id": values["object_id"]},
        "team_id": values["team_id"],
        "before": values["before"],
        "after": values["after"],
    }
    person = values["actor_kind"] == "session"
    actor = values["actor_id"]
    user, key_id = (actor, None) if person else (None, actor)
    return row(seq, record, values["team_id"], user, key_id, None, None, purged)


CLIN, SUP = "team_clin", "team_sup"
ANN_A1, ANN_A2, BOB_OLD = (CLIN, "usr_ann", "key_a1"), (CLIN, "usr_ann", "key_a2"), (SUP, "usr_bob", "key_old")
SVC = (SUP, None, "key_svc")
FAILOVER = [
    ("azure/gpt-4o", "azure", "gpt-4o", 503),
    ("anthropic/claude-sonnet", "anthropic", "claude-sonnet-4-5", 200),
]
REQUESTS = [
    request(10, at(20, month=10), ANN_A1, "gpt-4o", 200, usage={"input": 1, "output": 1}, cost="0.000001"),
    request(
        11,
        at(2),
        ANN_A1,
        "gpt-4o",
        200,
        usage={"input": 100, "output": 20},
        cost="0.0015",
        flags=["phi"],
        content=PHI_FULL,
    ),
    request(
        12,
        at(6),
        ANN_A2,
        "claude-sonnet",
        200,
        usage={"input": 50, "output": 10},
        cost="0.0020",
        flags=["phi", "pii"],
        attempts=FAILOVER,
        content=PHI_REDACTED,
    ),
    request(
        13,
        at(8),
        BOB_OLD,
        "gpt-4o",
        429,
        error="rate_limited",
        cost="0",
        decisions=[{"policy": "rate_limit", "name": "team-rpm", "mode": "enforce", "outcome": "refused", "detail": ""}],
    ),
    request(
        14,
        at(9),
        BOB_OLD,
        "gpt-4o",
        200,
        usage={"input": 10, "output": 5},
        cost="0.0001",
        decisions=[{"policy": "budget", "name": "monthly", "mode": "audit", "outcome": "would_refuse", "detail": ""}],
    ),
    request(15, at(11), SVC, "gpt-4o", 403, error="model_not_allowed", attempts=[]),
    request(16, at(15), ANN_A2, "gpt-4o", 429, flags=["phi"], purged=True),
    request(17, at(16), None, "gpt-4o", 401, error="invalid_api_key", attempts=[]),
    request(30, at(2, month=12), ANN_A2, "gpt-4o", 200, flags=["phi"], usage={"input": 7, "output": 7}, cost="1"),
]
ADMIN = [admin_row(20 + i, values) for i, values in enumerate(CHANGES_BOTH)]
ADMIN.append(
    row(
        24,
        {"id": "aud_adm_24", "kind": "admin", "at": "2026-11-20T10:00:00Z"},
        None,
        None,
        "master",
        None,
        None,
        purged=True,
    )
)

SPEND = [
    SpendRecord(
        id="sp1",
        at=at(2),
        team_id=CLIN,
        key_id="key_a1",
        user_id="usr_ann",
        model="gpt-4o",
        provider="openai",
        input_tokens=100,
        output_tokens=20,
        cost_usd=Decimal("0.0015"),
    ),
    SpendRecord(
        id="sp2",
        at=at(6),
        team_id=CLIN,
        key_id="key_a2",
        user_id="usr_ann",
        model="claude-sonnet",
        provider="anthropic",
        input_tokens=50,
        output_tokens=10,
        cost_usd=Decimal("0.0020"),
    ),
    SpendRecord(
        id="sp3",
        at=at(9),
        team_id=SUP,
        key_id="key_old",
        user_id="usr_bob",
        model="gpt-4o",
        provider="openai",
        input_tokens=10,
        output_tokens=5,
        cost_usd=Decimal("0.0001"),
    ),
    SpendRecord(
        id="sp4",
        at=at(9, 11),
        team_id=SUP,
        key_id="key_old",
        user_id="usr_bob",
        model="gpt-4o",
        provider="openai",
        input_tokens=30,
        output_tokens=3,
        cost_usd=Decimal("0.0004"),
    ),
    SpendRecord(
        id="sp_out",
        at=at(2, month=12),
        team_id=CLIN,
        key_id="key_a2",
        model="gpt-4o",
        provider="openai",
        input_tokens=7,
        output_tokens=7,
        cost_usd=Decimal("1"),
    ),
]


async def seed(db: Database, *, audit: bool = True) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(orgs).values(
                id="org_acme", name="acme", metadata={}, created_at=at(1, month=9), updated_at=at(1, month=9)
            )
        )
        for ident, name in ((CLIN, "clinical"), (SUP, "support")):
            await conn.execute(
                insert(teams).values(
                    id=ident,
                    org_id="org_acme",
                    name=name,
                    metadata={},
                    created_at=at(1, month=9),
                    updated_at=at(1, month=9),
                )
            )
        for ident, email in (("usr_ann", "ann@example.com"), ("usr_bob", "bob@example.com")):
            await conn.execute(
                insert(users).values(
                    id=ident,
                    org_id="org_acme",
                    email=email,
                    name=None,
                    disabled=False,
                    metadata={},
                    created_at=at(1, month=9),
                    updated_at=at(1, month=9),
                )
            )
        await conn.execute(insert(virtual_keys), KEYS)
        for ident, name, version in (("cred_openai", "openai-prod", 2), ("cred_anth", "anthropic", 1)):
            await conn.execute(
                insert(credentials).values(
                    id=ident,
                    name=name,
                    sealed="SEALED-BLOB-XYZ",
                    key_id="vk1",
                    fingerprint="FPRINT-XYZ",
                    last4="L4X9",
                    description=f"{name} key",
                    version=version,
                    created_by="usr_ann",
                    created_at=at(1, month=10),
                    updated_at=at(7) if version > 1 else at(1, month=10),
                )
            )
        await conn.execute(insert(admin_changes), CHANGES_BOTH + CHANGES_LOG_ONLY)
        if audit:
            await conn.execute(insert(audit_log), sorted(REQUESTS + ADMIN, key=lambda r: r["seq"]))
    await write_batch(db, SPEND)


def seeded(url: str, **options: Any) -> None:
    """``seed`` the database at ``url``."""

    async def go() -> None:
        db = Database(url)
        try:
            await seed(db, **options)
        finally:
            await db.close()

    asyncio.run(go())


def run(url: str, tmp_path: Path, *args: str) -> Result:
    """``wardgate report …`` in this process, on the database at ``url``."""
    env = {"WARDGATE_DATABASE_URL": url, "WARDGATE_CONFIG": "", "WARDGATE_DATA_DIR": str(tmp_path / "data")}
    return CliRunner().invoke(main, ["report", *args], env=env, catch_exceptions=False)
