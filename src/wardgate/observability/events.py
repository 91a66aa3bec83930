"""The end of a request as one event, and the fan-out to whoever watches requests (access log, metrics, audit
trail, traces).

The ``observe`` stage (outermost) calls ``Observers.started`` when a request comes in and ``Observers.ended`` once
when it is over: answered, refused, failed, streamed to its end, cut, or left by its client. By then the inner
layers have put on the request context everything there is to know: the principal, every upstream attempt with
its timings, the usage and cost (``ctx.usage``, ``ctx.cost_usd``), policy decisions and content flags.

Observers run on the request path, so each must be cheap (microseconds), must never block and must never raise:
a failing observer is counted and logged, never allowed to fail the request it describes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from wardgate.core.types import ProxyRequest, ProxyResponse, RequestContext

_log = logging.getLogger("wardgate.observability")
_LOG_EVERY = 30.0


@dataclass(slots=True, frozen=True)
class RequestEnd:
    """A finished request. ``status`` is what the client got (499: it left first); ``error`` the error code, if
    any (a stream that broke after its first byte has status 200 and an error). ``ended`` is ``perf_counter``
    time, comparable with ``ctx.started`` and the attempts' times; ``at`` is wall-clock time (epoch seconds)."""

    ctx: RequestContext
    request: ProxyRequest
    status: int
    error: str | None
    ended: float
    at: float

    @property
    def duration(self) -> float:
        """Seconds from arrival to the end (of the stream, for a stream)."""
        return self.ended - self.ctx.started


class Observer(Protocol):
    def started(self, ctx: RequestContext) -> None:
        """A request arrived (before authentication): e.g. open its trace."""

    def ended(self, end: RequestEnd) -> None:
        """The request is over: log, count, audit, close the trace."""


class ResponseObserver(Protocol):
    def responded(self, ctx: RequestContext, response: ProxyResponse) -> None:
        """The pipeline produced ``response`` (a whole body, or a stream the observer may wrap)."""


class Observers:
    """The process's observers, in order (the audit trail before the access log, so a log line never claims a
    request the trail lacks). Lives in ``AppState`` across config reloads."""

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self.observers: tuple[Observer, ...] = ()
        self._responders: tuple[ResponseObserver, ...] = ()
        self.failures = 0
        self._logged = 0.0

        for observer in observers:
            self.add(observer)

    def add(self, observer: Observer, *, first: bool = False) -> None:
        """Add an observer (``first``: before the others, e.g. the audit trail before the access log)."""
        self.observers = (observer, *self.observers) if first else (*self.observers, observer)
        if hasattr(observer, "responded"):
            responder: ResponseObserver = observer  # type: ignore[assignment]
            self._responders = (responder, *self._responders) if first else (*self._responders, responder)

    def responded(self, ctx: RequestContext, response: ProxyResponse) -> None:
        """Observers that implement ``responded`` see the response before it is sent (e.g. to capture content)."""
        for observer in self._responders:
            try:
                observer.responded(ctx, response)
            except Exception:
                self._failed(observer, ctx)

    def started(self, ctx: RequestContext) -> None:
        for observer in self.observers:
            try:
                observer.started(ctx)
            except Exception:
                self._failed(observer, ctx)

    def ended(self, end: RequestEnd) -> None:
        for observer in self.observers:
            try:
                observer.ended(end)
            except Exception:
                self._failed(observer, end.ctx)

    def _failed(self, observer: object, ctx: RequestContext) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._logged >= _LOG_EVERY:
            self._logged = now
            _log.exception(
                "observer %s failed (%d failures so far)",
                type(observer).__name__,
                self.failures,
                extra={"fields": {"request_id": ctx.request_id}},
            )
