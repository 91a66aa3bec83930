"""``wardgate report hipaa-access`` on SQLite and PostgreSQL against a database with known rows: every request
flagged PHI in the period (and no other), who sent it, to which model, deployment and provider, whether its content
was kept; the summaries by principal and by model; the summary numbers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import Result
from report_fixtures import END, SECRET_MARKERS, START, run, seeded

STEM = "hipaa-access-20261101-20261130"


def table(out: Path, name: str) -> list[dict[str, str]]:
    with (out / f"{STEM}-{name}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def report(database_url: str, tmp_path: Path) -> tuple[Path, Result]:
    seeded(database_url)
    out = tmp_path / "out"
    result = run(database_url, tmp_path, "hipaa-access", "--from", START, "--to", END, "--output", str(out))
    assert result.exit_code == 0, result.output
    return out, result


def test_files(report: tuple[Path, Result]) -> None:
    out, result = report
    expected = [out / f"{STEM}.md", *(out / f"{STEM}-{n}.csv" for n in ("by-principal", "by-model", "requests"))]
    assert result.output.split() == [str(p) for p in expected]
    document = expected[0].read_text()
    assert document.startswith("# HIPAA access report: prompts flagged as containing PHI\n")
    assert "| Period | 2026-11-01 to 2026-11-30 (UTC) |" in document
    for title in ("## 1. By principal", "## 2. By model", "## 3. Requests"):
        assert title in document
    for path in out.iterdir():
        assert not any(marker in path.read_text() for marker in SECRET_MARKERS)


def test_every_phi_request_of_the_period_and_no_other(report: tuple[Path, Result]) -> None:
    rows = table(report[0], "requests")
    assert [r["request_id"] for r in rows] == ["req-11", "req-12", "req-16"]  # not req-30 (December)
    first, failover, purged = rows
    assert (first["at"], first["team"], first["user"], first["key"]) == (
        "2026-11-02T10:00:00Z",
        "clinical (team_clin)",
        "ann@example.com (usr_ann)",
        "a1-key (key_a1)",
    )
    assert (first["model"], first["deployment"], first["provider"], first["upstream_model"]) == (
        "gpt-4o",
        "openai/gpt-4o",
        "openai",
        "gpt-4o-2024-08-06",
    )
    assert (first["status"], first["flags"], first["content_kept"]) == ("200", "phi", "full")
    assert (failover["deployment"], failover["provider"], failover["other_attempts"]) == (
        "anthropic/claude-sonnet",
        "anthropic",
        "azure/gpt-4o",
    )
    assert (failover["flags"], failover["content_kept"]) == ("phi; pii", "redacted")
    assert (purged["status"], purged["deployment"], purged["content_kept"]) == ("429", "", "unknown (record purged)")
    assert purged["key"] == "a2-key (key_a2)"  # the row's columns outlive the purged record


def test_summaries_by_principal_and_by_model(report: tuple[Path, Result]) -> None:
    principals = [(r["key"], r["requests"], r["models"]) for r in table(report[0], "by-principal")]
    assert principals == [("a2-key (key_a2)", "2", "claude-sonnet; gpt-4o"), ("a1-key (key_a1)", "1", "gpt-4o")]
    models = {r["model"]: r for r in table(report[0], "by-model")}
    assert set(models) == {"gpt-4o", "claude-sonnet"}
    assert (models["gpt-4o"]["requests"], models["gpt-4o"]["principals"], models["gpt-4o"]["providers"]) == (
        "2",
        "2",
        "openai",
    )
    claude = models["claude-sonnet"]
    assert (claude["deployments"], claude["providers"]) == ("anthropic/claude-sonnet; azure/gpt-4o", "anthropic; azure")


def test_summary_numbers(report: tuple[Path, Result]) -> None:
    document = (report[0] / f"{STEM}.md").read_text()
    for line in (
        "| Requests flagged PHI | 3 |",
        "| All requests in the audit trail | 7 |",
        "| Share flagged PHI | 42.9% |",
        "| Principals (team, user, key) that sent PHI | 2 |",
        "| People (users) among them | 1 |",
        "| Models that received PHI | 2 |",
        "| Providers that received PHI | 3 |",
        "| Flagged requests whose content is kept in full | 1 |",
        "| Flagged requests whose content is kept redacted | 1 |",
        "| Flagged requests whose record retention purged | 1 |",
    ):
        assert line in document
    assert "A request is flagged PHI when `audit.classify` includes `phi`" in document


def test_a_period_without_phi(database_url: str, tmp_path: Path) -> None:
    seeded(database_url)
    out = tmp_path / "out"
    result = run(
        database_url, tmp_path, "hipaa-access", "--from", "2026-10-01", "--to", "2026-10-31", "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    document = (out / "hipaa-access-20261001-20261031.md").read_text()
    assert "| Requests flagged PHI | 0 |" in document and "| All requests in the audit trail | 1 |" in document
    assert document.count("_None in this period._") == 3
    with (out / "hipaa-access-20261001-20261031-requests.csv").open() as handle:
        assert handle.read().strip().startswith("at,request_id,team,user,key,model")
