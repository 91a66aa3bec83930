"""``FakeState``: the scripting, recording and counter side of a fake server (no networking)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from wardgate.testing.recording import RecordedRequest, RequestLog
from wardgate.testing.script import Behavior, Endpoint, ScriptQueue


class FakeState:
    """Scripts, recordings and counters. All methods are safe to call from any thread."""

    def __init__(self, default: Behavior | None = None, max_recorded: int = 1000) -> None:
        self.default = default or Behavior()
        self._initial_default = self.default
        self.cancelled_streams = 0
        self.cancelled_requests = 0
        self.completed_streams = 0
        self._scripts = ScriptQueue()
        self._log = RequestLog(max_recorded)

    def script(self, behavior: Behavior) -> None:
        """Queue one behaviour for the next matching request(s) (FIFO)."""
        self._scripts.push([behavior])

    def script_many(self, behaviors: Iterable[Behavior]) -> None:
        self._scripts.push(behaviors)

    def set_default(self, behavior: Behavior) -> None:
        """Behaviour for requests that no scripted behaviour matches."""
        self.default = behavior

    def reset(self) -> None:
        """Drop scripts, restore the constructor's default behaviour, clear recordings and counters."""
        self._scripts.clear()
        self.default = self._initial_default
        self._log.clear()
        self.cancelled_streams = self.cancelled_requests = self.completed_streams = 0

    def _pick(self, endpoint: Endpoint, model: str | None, provider: str) -> Behavior:
        return self._scripts.take(endpoint, model, provider) or self.default

    @property
    def pending_scripts(self) -> list[Behavior]:
        return self._scripts.pending()

    @property
    def requests(self) -> list[RecordedRequest]:
        """The last (up to ``max_recorded``) requests received, oldest first (control API excluded)."""
        return self._log.snapshot()

    @property
    def last_request(self) -> RecordedRequest | None:
        return self._log.last()

    @property
    def request_count(self) -> int:
        """Total requests received since start/reset (not bounded like ``requests``)."""
        return self._log.total

    def clear_requests(self) -> None:
        self._log.clear()

    def _client_gone(self, stream: bool) -> None:
        self.cancelled_requests += 1
        if stream:
            self.cancelled_streams += 1

    async def wait_for_cancelled(self, count: int = 1, within: float = 5.0) -> None:
        """Wait until ``cancelled_streams >= count``; TimeoutError after ``within`` seconds.

        Polls, so it works from any event loop or thread (e.g. with ``FakeServerThread``).
        """
        deadline = time.monotonic() + within
        while self.cancelled_streams < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cancelled_streams={self.cancelled_streams}, expected >= {count}")
            await asyncio.sleep(0.01)

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.request_count,
            "cancelled_streams": self.cancelled_streams,
            "cancelled_requests": self.cancelled_requests,
            "completed_streams": self.completed_streams,
            "pending_scripts": len(self._scripts),
        }
