"""Stream helpers: peek the first event (so failures before the first byte can still fail over or get a real HTTP
status) and tap a stream's end (so stages that need the outcome finish exactly once, also on disconnect)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import suppress

from wardgate.core.types import StreamSource


async def peek_first(stream: StreamSource) -> StreamSource:
    """Wait for the first event and return a stream that replays it, then the rest.

    Raises whatever the upstream raised before its first event (after closing it), and ``StopAsyncIteration`` is
    turned into an empty stream.
    """
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return _empty()
    except BaseException:
        await close_quietly(stream)
        raise
    return _replay(first, stream)


async def _replay(first: bytes, rest: StreamSource) -> AsyncIterator[bytes]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        await close_quietly(rest)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def close_quietly(stream: StreamSource) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with suppress(Exception):
            await aclose()


async def on_stream_end(stream: StreamSource, done: Callable[[BaseException | None], None]) -> AsyncIterator[bytes]:
    """Relay ``stream`` and call ``done(error)`` once when it ends: normally, by error, or by cancellation."""
    error: BaseException | None = None
    try:
        async for item in stream:
            yield item
    except BaseException as exc:
        error = exc
        raise
    finally:
        await close_quietly(stream)
        done(error)
