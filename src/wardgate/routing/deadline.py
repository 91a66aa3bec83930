"""The overall deadline of a request: ``server.routing.deadline_seconds``, which the calling key's policy
(``deadline_seconds`` in its metadata) and then the client's ``x-wardgate-timeout`` header (seconds) may shorten
but never lengthen. It counts from the request's arrival and
shrinks across attempts: each attempt runs under what is left, a backoff that would outlast it is not taken.

It bounds the attempt phase: a whole answer, or a stream until its first event (after that a stream is bounded by
the idle timeout between chunks, not by a total).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from wardgate.core.errors import InvalidRequestError, UpstreamTimeoutError

HEADER = "x-wardgate-timeout"
DEADLINE_CODE = "deadline_exceeded"


class Deadline:
    """``at`` is a ``time.perf_counter()`` instant, or None for no deadline."""

    __slots__ = ("at",)

    def __init__(self, at: float | None) -> None:
        self.at = at

    @classmethod
    def start(
        cls, configured: float | None, headers: Mapping[str, str], started: float, policy: float | None = None
    ) -> Deadline:
        requested = headers.get(HEADER)
        if requested is None and configured is None and policy is None:
            return NO_DEADLINE
        seconds = configured if policy is None else policy if configured is None else min(configured, policy)
        if requested is not None:
            asked = _seconds(requested)
            seconds = asked if seconds is None else min(seconds, asked)
        return cls(None if seconds is None else started + seconds)

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left (may be negative), or None without a deadline."""
        if self.at is None:
            return None
        return self.at - (time.perf_counter() if now is None else now)

    def allows(self, wait: float, now: float | None = None) -> bool:
        """Whether waiting ``wait`` seconds still leaves time for an attempt."""
        left = self.remaining(now)
        return left is None or left > wait

    @property
    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0


NO_DEADLINE = Deadline(None)


def exceeded() -> UpstreamTimeoutError:
    return UpstreamTimeoutError("The request's deadline passed before an upstream answered.", code=DEADLINE_CODE)


def _seconds(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InvalidRequestError(
            f"The {HEADER} header must be a positive number of seconds.", param=HEADER, code="invalid_timeout"
        )
    return value


def key_policy(metadata: Mapping[str, object]) -> float | None:
    """A key's own deadline (``metadata.deadline_seconds``), when it is a positive number."""
    value = metadata.get("deadline_seconds")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return None
