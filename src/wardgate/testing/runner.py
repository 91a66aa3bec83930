"""Run a fake server on its own event loop in a daemon thread (for sync tests and non-async callers)."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wardgate.testing.server import FakeServer


class FakeServerThread:
    """``FakeServerThread(fake).start()`` returns once the server listens; ``close()`` stops it.

    Also a context manager. Scripting/recording methods of ``fake`` are thread-safe and may be called
    from the caller's thread while the server runs.
    """

    def __init__(self, fake: FakeServer, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> FakeServerThread:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="wardgate-fake-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("fake server did not start in time")
        if self._error is not None:
            raise RuntimeError("fake server failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self.fake.start(self.host, self.port))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.fake.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @property
    def url(self) -> str:
        return self.fake.url

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    def close(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def __enter__(self) -> FakeServerThread:
        return self if self._thread is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def run_in_thread(fake: FakeServer, host: str = "127.0.0.1", port: int = 0) -> FakeServerThread:
    """Start ``fake`` in a daemon thread and return its runner once it is listening."""
    return FakeServerThread(fake, host, port).start()
