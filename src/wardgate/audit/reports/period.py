"""The reporting period: ``--from`` and ``--to`` as dates or times, UTC, half-open ``[start, end)``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    """Exclusive."""

    def label(self) -> str:
        """``2026-11-01 to 2026-11-30`` for whole days, else both times (UTC)."""
        last = self.end - timedelta(microseconds=1)
        if self.start == _midnight(self.start) and self.end == _midnight(self.end):
            return f"{self.start:%Y-%m-%d} to {last:%Y-%m-%d} (UTC)"
        return f"{self.start:%Y-%m-%d %H:%M:%S} to {self.end:%Y-%m-%d %H:%M:%S} UTC (end excluded)"

    def slug(self) -> str:
        """For file names: ``20261101-20261130``."""
        return f"{self.start:%Y%m%d}-{(self.end - timedelta(microseconds=1)):%Y%m%d}"


def when(moment: datetime) -> datetime:
    """UTC, also for the naive times SQLite hands back (they are stored as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _midnight(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def parse_moment(text: str, *, end: bool) -> datetime:
    """A date (``2026-11-30``: its start, or for ``end`` the start of the next day, so the day is included) or an
    ISO 8601 time (UTC when it names no zone); ``ValueError`` with a readable message otherwise."""
    value = text.strip()
    if _DATE.match(value):
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
        return day + timedelta(days=1) if end else day
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date or time: {text!r} (use 2026-11-30 or 2026-11-30T12:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_period(start: str, end: str) -> Period:
    """``--from`` and ``--to``; a date as ``--to`` includes that whole day."""
    period = Period(parse_moment(start, end=False), parse_moment(end, end=True))
    if period.end <= period.start:
        raise ValueError(f"the period is empty: --to ({end}) is not after --from ({start})")
    return period
