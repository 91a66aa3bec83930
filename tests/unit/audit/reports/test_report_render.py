"""The reporting period (dates include their day, times are exact, zones become UTC, bad input is a readable
error) and the rendering of cells and tables (Markdown escaping, long tables cut with a pointer to the CSV, CSV
values exact)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from wardgate.audit.reports.period import Period, parse_period
from wardgate.audit.reports.render import Report, Section, Table, csv_cell, md_cell, write_report


def test_dates_cover_whole_days() -> None:
    period = parse_period("2026-11-01", "2026-11-30")
    assert (period.start, period.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert period.label() == "2026-11-01 to 2026-11-30 (UTC)"
    assert period.slug() == "20261101-20261130"
    assert parse_period("2026-11-30", "2026-11-30").end - parse_period("2026-11-30", "2026-11-30").start == timedelta(
        days=1
    )


def test_times_are_exact_and_utc() -> None:
    period = parse_period("2026-11-01T08:30:00+02:00", "2026-11-02T12:00:00Z")
    assert period.start == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 2, 12, tzinfo=UTC)
    assert period.label() == "2026-11-01 06:30:00 to 2026-11-02 12:00:00 UTC (end excluded)"
    assert parse_period("2026-11-01T00:00:00", "2026-11-01T01:00").start.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-02-30", "2026-03-01", "not a date: '2026-02-30'"),
        ("yesterday", "2026-03-01", "not a date or time: 'yesterday'"),
        ("2026-03-02", "2026-03-01", "the period is empty"),
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z", "the period is empty"),
    ],
)
def test_bad_periods(start: str, end: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_period(start, end)


def test_cells() -> None:
    moment = datetime(2026, 11, 2, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    assert md_cell(moment) == "2026-11-02 11:00:00 UTC" and csv_cell(moment) == "2026-11-02T11:00:00Z"
    assert md_cell(datetime(2026, 11, 2, 12, 0)) == "2026-11-02 12:00:00 UTC"  # SQLite's naive UTC
    assert md_cell(Decimal("1234.5")) == "1,234.500000" and csv_cell(Decimal("0.000000001")) == "0.000000001"
    assert md_cell(12345) == "12,345" and csv_cell(12345) == "12345"
    assert md_cell(None) == "—" and csv_cell(None) == ""
    assert md_cell("a|b\nc") == "a\\|b c"
    assert md_cell(["x", "y"]) == "x; y" and md_cell([]) == "—"
    assert md_cell(True) == "yes"


def test_long_tables_are_cut_in_the_document_and_whole_in_the_csv(tmp_path: Path) -> None:
    rows = [[i, f"name|{i}"] for i in range(120)]
    report = Report(
        kind="test",
        title="Test report",
        period=Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
        generated_at=datetime(2026, 1, 3, tzinfo=UTC),
        source="sqlite:///x.db",
        summary=[("Rows", 120)],
        sections=[Section("Things", "Some text.", [Table("things", ("n", "name"), rows), Table("none", ("a",), [])])],
        notes=["A note."],
    )
    paths = write_report(report, tmp_path / "new" / "dir")
    assert [p.name for p in paths] == [
        "test-20260101-20260101.md",
        "test-20260101-20260101-things.csv",
        "test-20260101-20260101-none.csv",
    ]
    document = paths[0].read_text()
    assert "| 49 | name\\|49 |" in document and "| 50 | name\\|50 |" not in document
    assert "_… and 70 more rows (all rows: `test-20260101-20260101-things.csv`)._" in document
    assert "|---:|---|" in document  # numbers right-aligned
    assert "_None in this period._" in document and "> A note." in document and "| Rows | 120 |" in document
    lines = paths[1].read_text().splitlines()
    assert lines[0] == "n,name" and len(lines) == 121 and lines[-1] == "119,name|119"
    assert paths[2].read_text().splitlines() == ["a"]
