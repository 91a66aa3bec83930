"""Spend reports and ledger rows as CSV and JSON. Amounts are exact decimal text (``"0.012500000"``), never floats;
times are ISO 8601 in UTC. The same functions serve the admin API (``format=csv|json``) and the CLI."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from wardgate.spend.query import SUMS, SpendReport, money

ROW_COLUMNS = (
    "id",
    "request_id",
    "at",
    "org_id",
    "team_id",
    "project_id",
    "key_id",
    "user_id",
    "agent",
    "app",
    "model",
    "provider",
    "deployment",
    "upstream_model",
    "tags",
    "endpoint",
    "stream",
    "status",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "cost_known",
)
"""The ledger columns an export of rows carries, in order."""


def plain(value: Any) -> Any:
    """A value as JSON-safe data: Decimal → fixed-point text, datetime → ISO text, tuples → lists."""
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def report_json(report: SpendReport) -> dict[str, Any]:
    """The JSON document of a report (what ``GET /admin/v1/spend`` answers)."""
    query = report.query
    return {
        "object": "spend_report",
        "since": plain(query.since),
        "until": plain(query.until),
        "group_by": list(query.group_by),
        "filters": {name: sorted(values) for name, values in query.filters.items()},
        "source": report.source,
        "data": [{name: plain(value) for name, value in group.items()} for group in report.groups],
        "totals": {name: plain(value) for name, value in report.totals.items()},
    }


def report_csv(document: Mapping[str, Any]) -> str:
    """A report document (``report_json``'s shape, also as read back from the API) as CSV: one line per group,
    the group-by columns first (each id followed by its ``<dim>_name`` when the API added one); no totals line."""
    data = document.get("data", [])
    named = {name for group in data for name in group if name.endswith("_name")}
    columns = [c for dim in document.get("group_by", []) for c in (dim, f"{dim}_name") if c == dim or c in named]
    return to_csv([*columns, *SUMS], data)


def rows_json(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{name: plain(row.get(name)) for name in ROW_COLUMNS} for row in rows]


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """RFC 4180 CSV with a header line; lists become ``a;b``; cells that a spreadsheet would run as a formula
    (``=``, ``+``, ``-``, ``@`` first) are prefixed with ``'``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if text[:1] in ("=", "+", "@") or (text[:1] == "-" and not _number(text)):
        return "'" + text
    return text


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
