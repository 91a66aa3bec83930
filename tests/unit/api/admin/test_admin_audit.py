"""``GET /admin/v1/audit`` and ``/audit/{id}`` in the real app on SQLite and PostgreSQL: newest first, paged by
``seq``; filters (time, team by id or name, key, user, model, kind, flag as a whole item); content left out on
request; purged records; bad parameters as 400s; who may read which records (org admins and auditors all; a team
admin its own team's; members, viewers and people without a role 403; another team's records 404)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import func, insert, select, update
from test_admin_keys_harness import PLATFORM, SEARCH, Gate, gate_fixture  # noqa: F401

from wardgate.storage.database import Database
from wardgate.storage.schema import audit_head, audit_log

NOW = datetime.now(UTC).replace(microsecond=0)


def request(n: int, team: str | None, *, model: str = "gpt-4o", flags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"aud_t_{n}",
        "kind": "request",
        "at": (NOW - timedelta(minutes=100 - n)).isoformat().replace("+00:00", "Z"),
        "request_id": f"req_{n}",
        "principal": {"kind": "key", "key_id": f"key_{n % 2}", "user_id": f"user_{n % 3}", "team_id": team},
        "model": model,
        "status": 200,
        "flags": list(flags),
        "content": {"mode": "full", "prompt": [{"role": "user", "content": f"hello {n}"}]},
    }


def change(n: int, team: str | None) -> dict[str, Any]:
    return {
        "v": 1,
        "id": f"aud_t_{n}",
        "kind": "admin",
        "at": (NOW - timedelta(minutes=100 - n)).isoformat().replace("+00:00", "Z"),
        "request_id": f"req_{n}",
        "actor": {"kind": "session", "id": "user_olga"},
        "action": "create",
        "object": {"kind": "key", "id": f"key_new_{n}"},
        "team_id": team,
        "before": None,
        "after": {"name": "ci"},
    }


RECORDS = [
    request(1, PLATFORM, flags=("phi",)),
    request(2, SEARCH, model="claude", flags=("pii", "phi")),
    change(3, PLATFORM),
    change(4, SEARCH),
    request(5, None),  # a master-key call: org-wide
    request(6, PLATFORM, flags=("phix",)),
    request(7, PLATFORM),  # purged below
]
ALL = [f"aud_t_{n}" for n in range(7, 0, -1)]  # newest first


async def seed(db: Database) -> None:
    """The records, appended after the chain's head (the head locked and moved past them)."""
    async with db.engine.begin() as conn:
        await conn.execute(update(audit_head).values(updated_at=datetime.now(UTC)))
        top = (await conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0)))).scalar_one()
        last = max(int(top), int((await conn.execute(select(audit_head.c.seq))).scalar_one()))
        for seq, record in enumerate(RECORDS, start=last + 1):
            data = orjson.dumps(record)
            who = record.get("principal") or {}
            purged = record["id"] == "aud_t_7"
            await conn.execute(
                insert(audit_log).values(
                    seq=seq,
                    id=record["id"],
                    at=datetime.fromisoformat(record["at"].replace("Z", "+00:00")),
                    kind=record["kind"],
                    request_id=record["request_id"],
                    team_id=record.get("team_id", who.get("team_id")),
                    key_id=who.get("key_id"),
                    user_id=who.get("user_id") or (record.get("actor") or {}).get("id"),
                    model=record.get("model"),
                    status=record.get("status"),
                    flags=",".join(record.get("flags") or []) or None,
                    record=None if purged else data.decode(),
                    record_hash=hashlib.sha256(data).hexdigest(),
                    purged_at=NOW if purged else None,
                    prev_hash="0" * 64,
                    hash=hashlib.sha256(str(seq).encode()).hexdigest(),
                )
            )
        await conn.execute(update(audit_head).values(seq=last + len(RECORDS)))


async def listed(gate: Gate, who: str = "olga", **params: Any) -> list[str]:
    answer = await gate.call("GET", "/audit", who=who, params={"limit": 1000, **params})
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["data"] if item["id"].startswith("aud_t_")]


async def test_newest_first_paged_by_seq(gate: Gate) -> None:
    assert gate.state.db is not None
    await seed(gate.state.db)
    seen: list[str] = []
    before: int | None = None
    while True:
        params = {"limit": 3, **({"before": before} if before else {})}
        page = (await gate.call("GET", "/audit", params=params)).json()
        seen += [item["id"] for item in page["data"]]
        assert page["has_more"] == (page["next_before"] is not None)
        if not page["has_more"]:
            break
        before = page["next_before"]
        assert before == page["data"][-1]["seq"]
    assert [i for i in seen if i.startswith("aud_t_")] == ALL

    one = (await gate.call("GET", "/audit/aud_t_2")).json()
    assert one["object"] == "audit_record" and one["kind"] == "request" and one["flags"] == ["pii", "phi"]
    assert one["record"]["content"]["prompt"][0]["content"] == "hello 2" and one["team_id"] == SEARCH
    assert one["record_hash"] == hashlib.sha256(orjson.dumps(RECORDS[1])).hexdigest()
    purged = (await gate.call("GET", "/audit/aud_t_7")).json()
    assert purged["record"] is None and purged["purged_at"] is not None
    bare = (await gate.call("GET", "/audit/aud_t_1", params={"content": "false"})).json()
    assert "content" not in bare["record"] and bare["record"]["principal"]["team_id"] == PLATFORM
    assert (await gate.call("GET", "/audit/aud_nope")).status_code == 404


async def test_filters(gate: Gate) -> None:
    assert gate.state.db is not None
    await seed(gate.state.db)
    assert await listed(gate, team="platform") == ["aud_t_7", "aud_t_6", "aud_t_3", "aud_t_1"]
    assert await listed(gate, team=[PLATFORM, SEARCH], kind="admin") == ["aud_t_4", "aud_t_3"]
    assert await listed(gate, key="key_0") == ["aud_t_6", "aud_t_2"]
    assert await listed(gate, key="key_1", kind="request") == ["aud_t_7", "aud_t_5", "aud_t_1"]
    assert await listed(gate, user="user_olga") == ["aud_t_4", "aud_t_3"]
    assert await listed(gate, model="claude") == ["aud_t_2"]
    assert await listed(gate, flag="phi") == ["aud_t_2", "aud_t_1"]  # not "phix"
    assert await listed(gate, flag=["pii", "phix"]) == ["aud_t_6", "aud_t_2"]
    since, until = (NOW - timedelta(minutes=96)).isoformat(), (NOW - timedelta(minutes=94)).isoformat()
    assert await listed(gate, since=since, until=until) == ["aud_t_5", "aud_t_4"]  # half-open
    assert await listed(gate, since="7d", kind="admin") == ["aud_t_4", "aud_t_3"]
    assert await listed(gate, since="2000-01-01", until="2000-01-02") == []
    no_content = (await gate.call("GET", "/audit", params={"content": "false", "limit": 1000})).json()["data"]
    assert all("content" not in (item["record"] or {}) for item in no_content)


async def test_bad_parameters_are_400s(gate: Gate) -> None:
    for params, param in (
        ({"since": "last tuesday"}, "since"),
        ({"until": "7x"}, "until"),
        ({"since": "1d", "until": "2d"}, "since"),
        ({"kind": "other"}, "kind"),
        ({"before": "0"}, "before"),
        ({"limit": "0"}, "limit"),
    ):
        answer = await gate.call("GET", "/audit", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["error"]["param"] == param


async def test_who_reads_which_records(gate: Gate) -> None:
    assert gate.state.db is not None
    await seed(gate.state.db)
    assert await listed(gate, who="audrey") == ALL  # auditor
    assert await listed(gate, who="wg-admin-keys-test-master-key") == ALL
    own = ["aud_t_7", "aud_t_6", "aud_t_3", "aud_t_1"]
    assert await listed(gate, who="carol") == own  # team admin of platform: its requests and admin changes
    assert await listed(gate, who="carol", kind="admin") == ["aud_t_3"]
    assert (await gate.call("GET", "/audit/aud_t_1", who="carol")).status_code == 200
    for hidden in ("aud_t_2", "aud_t_4", "aud_t_5"):  # another team's, and org-wide
        answer = await gate.call("GET", f"/audit/{hidden}", who="carol")
        assert answer.status_code == 404, hidden
    other_team = await gate.call("GET", "/audit", who="carol", params={"team": "search"})
    assert other_team.status_code == 404 and other_team.json()["error"]["param"] == "team"
    for person in ("alice", "vera", "dave", "nobody"):  # member, viewer, member of search, no role
        assert (await gate.call("GET", "/audit", who=person)).status_code == 403, person
        assert (await gate.call("GET", "/audit/aud_t_1", who=person)).status_code == 403, person
    admin_key = (await gate.create(role="team_admin"))["key"]  # a platform key that automates its team
    assert await listed(gate, who=admin_key) == own
    member_key = (await gate.create(role="member"))["key"]
    assert (await gate.call("GET", "/audit", who=member_key)).status_code == 403
    assert (await gate.call("GET", "/audit", who="wg-not-a-key")).status_code == 401
