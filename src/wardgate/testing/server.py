"""``FakeServer``: the lifecycle every fake upstream shares (listen, stop, ``async with``, run in a thread, URLs).
A fake subclasses it and builds its routes in ``_make_app``; scripting and recording come from ``FakeState``."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Awaitable
from types import TracebackType
from typing import Self

from aiohttp import web

from wardgate.testing.responses import send_stream
from wardgate.testing.runner import FakeServerThread
from wardgate.testing.script import Behavior
from wardgate.testing.state import FakeState


class FakeServer(FakeState, abc.ABC):
    def __init__(self, default: Behavior | None = None, max_recorded: int = 1000) -> None:
        super().__init__(default, max_recorded)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._stopping = False

    @abc.abstractmethod
    def _make_app(self) -> web.Application:
        """The fake's routes (each fake its own)."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0 picks a free port; see ``url``)."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        runner = web.AppRunner(
            self._make_app(), handle_signals=False, shutdown_timeout=1.0, access_log=None, handler_cancellation=True
        )
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner, self._stopping = runner, False
        bound = runner.addresses[0]
        self._url = f"http://{'[' + bound[0] + ']' if ':' in bound[0] else bound[0]}:{bound[1]}"

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._stopping = True
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def run_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> FakeServerThread:
        """Start on a private event loop in a daemon thread; returns a ``FakeServerThread`` (``.close()``)."""
        return FakeServerThread(self, host=host, port=port).start()

    async def _guard(self, stream: bool, work: Awaitable[web.StreamResponse]) -> web.StreamResponse:
        """Count requests whose client went away while the fake was still answering."""
        try:
            return await work
        except asyncio.CancelledError:
            if not self._stopping:
                self._client_gone(stream)
            raise

    async def _stream_frames(self, request: web.Request, frames: list[bytes], behavior: Behavior) -> web.StreamResponse:
        """Stream ``frames`` as the behaviour says (spacing, disconnect), counting clients that went away."""
        gone: list[bool] = []
        response = await send_stream(
            request,
            frames,
            interval=behavior.chunk_interval,
            disconnect_after=behavior.disconnect_after,
            headers=behavior.headers,
            on_client_gone=lambda: gone.append(True),
        )
        if gone:
            self._client_gone(True)
        elif behavior.disconnect_after is None:
            self.completed_streams += 1
        return response

    @property
    def url(self) -> str:
        """``http://host:port`` of the running fake."""
        if self._url is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._url

    @property
    def base_url(self) -> str:
        """What the provider's SDK takes as its base URL."""
        return self.url
