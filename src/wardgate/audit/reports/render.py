"""A report as files: one Markdown document (title, period, generated at, summary, then each section's text and
tables, long tables cut at ``Table.shown`` rows with a pointer to their CSV) and one CSV file per table (every
row; times ISO 8601 UTC, costs exact decimal text)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from wardgate.audit.reports.period import Period, when


@dataclass(slots=True)
class Table:
    name: str
    """The CSV file's suffix, e.g. ``key-inventory``."""
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    shown: int = 50
    """Rows shown in the Markdown document; the CSV holds them all."""
    empty: str = "None in this period."


@dataclass(slots=True)
class Section:
    title: str
    text: str
    tables: list[Table] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    kind: str
    """File name prefix: ``soc2``, ``hipaa-access``."""
    title: str
    period: Period
    generated_at: datetime
    source: str
    """Where the data came from (the database, its password masked)."""
    summary: list[tuple[str, Any]]
    sections: list[Section]
    notes: list[str] = field(default_factory=list)


def write_report(report: Report, directory: Path) -> list[Path]:
    """Write the Markdown document and the CSV files into ``directory`` (created if missing); their paths, the
    document first."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{report.kind}-{report.period.slug()}"
    written: list[Path] = []
    csv_names: dict[int, str] = {}
    for section in report.sections:
        for table in section.tables:
            path = directory / f"{stem}-{table.name}.csv"
            path.write_text(to_csv(table), encoding="utf-8", newline="")
            csv_names[id(table)] = path.name
            written.append(path)
    document = directory / f"{stem}.md"
    document.write_text(markdown(report, csv_names), encoding="utf-8")
    return [document, *written]


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


def markdown(report: Report, csv_names: dict[int, str]) -> str:
    lines = [
        f"# {report.title}",
        "",
        "| | |",
        "|---|---|",
        f"| Period | {md_cell(report.period.label())} |",
        f"| Generated at | {md_cell(report.generated_at)} |",
        f"| Source | {md_cell(report.source)} |",
        "",
        "## Summary",
        "",
        "| Measure | Value |",
        "|---|---:|",
        *(f"| {md_cell(label)} | {md_cell(value)} |" for label, value in report.summary),
        "",
    ]
    for note in report.notes:
        lines += [f"> {note}", ""]
    for number, section in enumerate(report.sections, 1):
        lines += [f"## {number}. {section.title}", "", section.text, ""]
        for table in section.tables:
            lines += _table_lines(table, csv_names.get(id(table)))
    return "\n".join(lines).rstrip() + "\n"


def _table_lines(table: Table, csv_name: str | None) -> list[str]:
    where = f" (all rows: `{csv_name}`)" if csv_name else ""
    if not table.rows:
        return [f"_{table.empty}_", ""]
    lines = [
        "| " + " | ".join(md_cell(c) for c in table.columns) + " |",
        "|" + "|".join("---:" if _numeric(table, i) else "---" for i in range(len(table.columns))) + "|",
    ]
    lines += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in table.rows[: table.shown]]
    hidden = len(table.rows) - table.shown
    if hidden > 0:
        lines += ["", f"_… and {hidden} more rows{where}._"]
    elif csv_name:
        lines += ["", f"_{len(table.rows)} rows{where}._"]
    return [*lines, ""]


def _numeric(table: Table, index: int) -> bool:
    values = [row[index] for row in table.rows[: table.shown] if row[index] is not None]
    return bool(values) and all(isinstance(v, (int, Decimal)) and not isinstance(v, bool) for v in values)


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "; ".join(str(v) for v in value)
    return str(value)


def md_cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        text = f"{when(value):%Y-%m-%d %H:%M:%S} UTC"
    elif isinstance(value, Decimal):
        text = f"{value:,.6f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = csv_cell(value) or "—"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")
