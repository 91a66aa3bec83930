"""``wardgate report soc2`` on SQLite and PostgreSQL against a database with known rows: the files it writes and
the numbers and names in them — key inventory (states, rotation lineage, last use; never a key, hash, prefix or
sealed secret), rotations, admin changes (each once, from the trail or the change log), access by principal,
policy violations, provider usage — and the audit chain's integrity note."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from click.testing import Result
from report_fixtures import END, SECRET_MARKERS, START, at, run, seeded
from sqlalchemy import update

from wardgate.storage.database import Database
from wardgate.storage.schema import audit_log


def table(out: Path, name: str) -> list[dict[str, str]]:
    with (out / f"soc2-20261101-20261130-{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def report(database_url: str, tmp_path: Path) -> tuple[Path, Result]:
    seeded(database_url)
    out = tmp_path / "out"
    result = run(database_url, tmp_path, "soc2", "--from", START, "--to", END, "--output", str(out), "--no-verify")
    assert result.exit_code == 0, result.output
    return out, result


def test_writes_a_document_and_a_csv_per_table(report: tuple[Path, Result]) -> None:
    out, result = report
    names = [
        "key-inventory",
        "credentials",
        "key-rotations",
        "admin-changes",
        "access-by-principal",
        "violations-summary",
        "policy-violations",
        "provider-usage",
    ]
    expected = [out / "soc2-20261101-20261130.md", *(out / f"soc2-20261101-20261130-{n}.csv" for n in names)]
    assert result.output.split() == [str(p) for p in expected]
    assert all(p.is_file() for p in expected)
    document = expected[0].read_text()
    assert document.startswith("# SOC 2 evidence report\n")
    assert "| Period | 2026-11-01 to 2026-11-30 (UTC) |" in document
    assert "| Generated at | " in document
    for title in (
        "## Summary",
        "## 1. Key inventory",
        "## 2. Key rotations",
        "## 3. Admin changes",
        "## 4. Access by principal",
        "## 5. Policy violations",
        "## 6. Provider usage",
    ):
        assert title in document


def test_never_prints_a_key_a_hash_or_a_secret(report: tuple[Path, Result]) -> None:
    out, _ = report
    for path in out.iterdir():
        text = path.read_text()
        for marker in SECRET_MARKERS:
            assert marker not in text, (path.name, marker)


def test_summary_numbers(report: tuple[Path, Result]) -> None:
    document = (report[0] / "soc2-20261101-20261130.md").read_text()
    for line in (
        "| Virtual keys at the end of the period | 4 |",
        "| … active | 1 |",
        "| … revoked / expired / disabled / rotated | 1 / 1 / 0 / 1 |",
        "| Provider credentials | 2 |",
        "| Key and credential rotations | 2 |",
        "| Admin changes | 6 |",
        "| Requests (audit trail) | 7 |",
        "| Principals that made requests | 5 |",
        "| Requests refused by a policy or with 401/403/429 | 4 |",
        "| Requests an audit-mode policy would have refused | 1 |",
        "| Requests flagged PII / PHI | 1 / 3 |",
        "| Request records whose content retention purged | 1 |",
        "| Requests (spend ledger) | 4 |",
        "| Cost (USD, spend ledger) | 0.004000 |",
    ):
        assert line in document


def test_key_inventory(report: tuple[Path, Result]) -> None:
    rows = {r["key_id"]: r for r in table(report[0], "key-inventory")}
    assert list(rows) == ["key_old", "key_a1", "key_a2", "key_svc"]  # created by the end; key_future is not
    assert {k: r["state"] for k, r in rows.items()} == {
        "key_old": "revoked",
        "key_a1": "rotated",
        "key_a2": "active",
        "key_svc": "expired",
    }
    old, a1, a2, svc = rows.values()
    assert (old["team"], old["owner"], old["name"]) == ("support (team_sup)", "bob@example.com (usr_bob)", "old-key")
    assert old["revoked"] == "2026-11-10T10:00:00Z"
    assert old["last_used"] == "2026-11-09T11:00:00Z"  # the spend ledger saw it after the trail's last record
    assert (a1["rotated_to"], a1["last_rotation"], a1["last_used"]) == (
        "key_a2",
        "2026-11-05T10:00:00Z",
        at(2).isoformat().replace("+00:00", "Z"),
    )
    assert (a2["rotated_from"], a2["last_rotation"]) == ("key_a1", "2026-11-05T10:00:00Z")
    assert a2["last_used"] == "2026-11-15T10:00:00Z"  # not the request after the period
    assert (svc["owner"], svc["expires"]) == ("", "2026-11-20T10:00:00Z")
    credentials = {r["name"]: r for r in table(report[0], "credentials")}
    assert credentials["openai-prod"]["version"] == "2"
    assert credentials["openai-prod"]["last_rotation"] == "2026-11-07T10:00:00Z"
    assert credentials["anthropic"]["last_rotation"] == ""
    assert set(credentials["anthropic"]) == {
        "credential_id",
        "name",
        "version",
        "created",
        "created_by",
        "last_rotation",
        "description",
    }


def test_rotations_and_admin_changes(report: tuple[Path, Result]) -> None:
    rotations = table(report[0], "key-rotations")
    assert [(r["kind"], r["object_id"], r["replaced_by"], r["actor"], r["source"]) for r in rotations] == [
        ("key", "key_a1", "key_a2", "ann@example.com (usr_ann)", "audit trail"),
        ("credential", "cred_openai", "", "master key", "change log"),
    ]
    changes = table(report[0], "admin-changes")
    assert [(c["at"][:10], c["action"], c["object_kind"], c["source"]) for c in changes] == [
        ("2026-11-05", "rotate", "key", "audit trail"),
        ("2026-11-05", "create", "key", "audit trail"),
        ("2026-11-07", "rotate", "credential", "change log"),
        ("2026-11-10", "revoke", "key", "audit trail"),
        ("2026-11-12", "update", "team", "audit trail"),
        ("2026-11-20", "(record purged by retention)", "", "audit trail"),
    ]
    update_team = changes[4]
    assert (update_team["actor"], update_team["object"], update_team["fields"]) == (
        "master key",
        "support (team_sup)",
        "limits",
    )
    assert changes[1]["fields"] == "(created)" and changes[2]["object"] == "openai-prod (cred_openai)"


def test_access_by_principal(report: tuple[Path, Result]) -> None:
    rows = table(report[0], "access-by-principal")
    found = {(r["team"], r["user"], r["key"]): r for r in rows}
    ann_a2 = found[("clinical (team_clin)", "ann@example.com (usr_ann)", "a2-key (key_a2)")]
    assert (ann_a2["requests"], ann_a2["errors"], ann_a2["models"]) == ("2", "1", "claude-sonnet; gpt-4o")
    assert (ann_a2["input_tokens"], ann_a2["output_tokens"], ann_a2["cost_usd"]) == ("50", "10", "0.0020")
    ann_a1 = found[("clinical (team_clin)", "ann@example.com (usr_ann)", "a1-key (key_a1)")]
    assert (ann_a1["requests"], ann_a1["input_tokens"], ann_a1["cost_usd"]) == ("1", "100", "0.0015")
    bob = found[("support (team_sup)", "bob@example.com (usr_bob)", "old-key (key_old)")]
    assert (bob["requests"], bob["errors"], bob["cost_usd"]) == ("2", "1", "0.0001")
    assert found[("support (team_sup)", "", "svc-key (key_svc)")]["errors"] == "1"
    assert found[("", "", "(unauthenticated)")]["requests"] == "1"
    assert sum(int(r["requests"]) for r in rows) == 7
    assert [r["requests"] for r in rows] == sorted((r["requests"] for r in rows), reverse=True)


def test_policy_violations(report: tuple[Path, Result]) -> None:
    summary = {(r["policy"], r["outcome"]): r["requests"] for r in table(report[0], "violations-summary")}
    assert summary == {
        ("authentication (401)", "refused"): "1",
        ("authorization (403)", "refused"): "1",
        ("budget", "would_refuse"): "1",
        ("rate limit (429)", "refused"): "1",
        ("rate_limit", "refused"): "1",
    }
    rows = table(report[0], "policy-violations")
    assert [(r["request_id"], r["status"], r["policy"], r["outcome"]) for r in rows] == [
        ("req-13", "429", "rate_limit", "refused"),
        ("req-14", "200", "budget", "would_refuse"),
        ("req-15", "403", "authorization (403)", "refused"),
        ("req-16", "429", "rate limit (429)", "refused (record purged)"),
        ("req-17", "401", "authentication (401)", "refused"),
    ]
    assert (rows[0]["name"], rows[0]["mode"], rows[0]["error"], rows[0]["key"]) == (
        "team-rpm",
        "enforce",
        "rate_limited",
        "old-key (key_old)",
    )


def test_provider_usage(report: tuple[Path, Result]) -> None:
    rows = [
        (r["provider"], r["model"], r["requests"], r["input_tokens"], r["cost_usd"])
        for r in table(report[0], "provider-usage")
    ]
    assert sorted(rows[:-1]) == [
        ("anthropic", "claude-sonnet", "1", "50", "0.002000000"),
        ("openai", "gpt-4o", "3", "140", "0.002000000"),
    ]
    assert rows[-1] == ("total", "", "4", "190", "0.004000000")


def test_markdown_tables_escape_and_point_to_their_csv(report: tuple[Path, Result]) -> None:
    document = (report[0] / "soc2-20261101-20261130.md").read_text()
    assert "| key_id | name | team | owner |" in document
    assert "_4 rows (all rows: `soc2-20261101-20261130-key-inventory.csv`)._" in document
    assert "| 2026-11-10 10:00:00 UTC | bob@example.com (usr_bob) | revoke |" in document


def test_integrity_note_from_the_chain(database_url: str, tmp_path: Path) -> None:
    """Rows written by the real chain writer verify; after an edit the report says TAMPERED."""
    from wardgate.audit.chain import Entry, append
    from wardgate.audit.record import encode

    seeded(database_url, audit=False)
    record = {
        "v": 1,
        "id": "aud_real_1",
        "kind": "request",
        "at": at(3),
        "request_id": "r1",
        "principal": {"kind": "key", "key_id": "key_a2", "user_id": "usr_ann", "team_id": "team_clin"},
        "model": "gpt-4o",
        "status": 200,
        "decisions": [],
        "flags": ["phi"],
    }

    async def write(edit: bool) -> None:
        db = Database(database_url)
        try:
            async with db.engine.begin() as conn:
                if edit:
                    await conn.execute(update(audit_log).values(record='{"edited": true}'))
                else:
                    await append(conn, [Entry.of(record, encode(record))])
        finally:
            await db.close()

    asyncio.run(write(edit=False))
    out = tmp_path / "out"
    result = run(database_url, tmp_path, "soc2", "--from", START, "--to", END, "--output", str(out))
    assert result.exit_code == 0, result.output
    document = (out / "soc2-20261101-20261130.md").read_text()
    assert "> Audit trail integrity: the hash chain is intact (1 rows," in document
    assert "no vault key: the audit seals' HMACs are not checked" in result.output
    assert not (tmp_path / "data" / "secret.key").exists()  # a report never creates a vault key
    assert "| Requests (audit trail) | 1 |" in document
    asyncio.run(write(edit=True))
    result = run(database_url, tmp_path, "soc2", "--from", START, "--to", END, "--output", str(out))
    assert result.exit_code == 0, result.output
    document = (out / "soc2-20261101-20261130.md").read_text()
    assert "> Audit trail integrity: **TAMPERED** — 1 problem(s)" in document
    assert "seq 1 (aud_real_1): edited" in document


def test_access_falls_back_to_the_spend_ledger(database_url: str, tmp_path: Path) -> None:
    """Without request records (audit trail newer than the period), access comes from the spend ledger."""
    seeded(database_url, audit=False)
    out = tmp_path / "out"
    result = run(database_url, tmp_path, "soc2", "--from", START, "--to", END, "--output", str(out), "--no-verify")
    assert result.exit_code == 0, result.output
    rows = {r["key"]: r for r in table(out, "access-by-principal")}
    assert set(rows) == {"a1-key (key_a1)", "a2-key (key_a2)", "old-key (key_old)"}
    old = rows["old-key (key_old)"]
    assert (old["requests"], old["input_tokens"], old["output_tokens"], old["cost_usd"]) == (
        "2",
        "40",
        "8",
        "0.000500000",
    )
    document = (out / "soc2-20261101-20261130.md").read_text()
    assert "from the spend ledger (the audit trail holds no request of the period)" in document
    assert "| Requests (audit trail) | 0 |" in document and "| Admin changes | 5 |" in document


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-11-31", "--to", END], "not a date: '2026-11-31'"),
        (["--from", "last tuesday", "--to", END], "not a date or time: 'last tuesday'"),
        (["--from", END, "--to", START], "the period is empty"),
        (["--to", END], "Missing option '--from'"),
    ],
)
def test_bad_periods_are_clear_errors(database_url: str, tmp_path: Path, args: list[str], message: str) -> None:
    result = run(database_url, tmp_path, "soc2", *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_an_unmigrated_database_and_an_unwritable_output_are_one_line_errors(tmp_path: Path) -> None:
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run(empty, tmp_path, "hipaa-access", "--from", START, "--to", END, "--output", str(tmp_path))
    assert result.exit_code == 1
    assert "run `wardgate db upgrade` first" in result.output and "Traceback" not in result.output


def test_output_that_is_a_file(database_url: str, tmp_path: Path) -> None:
    seeded(database_url)
    blocker = tmp_path / "taken"
    blocker.write_text("")
    result = run(
        database_url, tmp_path, "soc2", "--from", START, "--to", END, "--output", str(blocker / "x"), "--no-verify"
    )
    assert result.exit_code == 1
    assert "cannot write the report to" in result.output and "Traceback" not in result.output
