"""Find the usage of one response, whole or streamed, and report it exactly once when the response ends.

``watch_usage`` reads a whole body's usage at once; a stream is relayed through a ``StreamUsage`` meter (which can
drop the usage chunk a client did not ask for) and reported when it ends — normally, on an error, when closed
early (a client disconnect) or when collected unfinished. The report is ``(usage or None, events)``: ``events``
counts streamed events that carried output, a lower bound of the output tokens when the provider's usage never came.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson

from wardgate.core.streams import close_quietly
from wardgate.core.types import Endpoint, ProxyRequest, ProxyResponse, StreamSource
from wardgate.tokens.usage import StreamUsage, Usage, usage_from_body

UsageReport = Callable[[Usage | None, int], None]


def watch_usage(response: ProxyResponse, report: UsageReport, *, hide_usage_chunk: bool = False) -> None:
    if response.stream is None:
        report(usage_from_body(response.dialect, response.body or b"", response.parsed), 0)
        return
    meter = StreamUsage(response.dialect, hide_usage_chunk=hide_usage_chunk and response.dialect == "openai")
    response.stream = MeteredStream(response.stream, meter, lambda: report(meter.usage, meter.events))


class MeteredStream:
    """Relays a stream through a usage meter and calls ``on_end`` exactly once: at the end, on an error, when
    closed early, or when collected unfinished."""

    __slots__ = ("_ended", "_inner", "_meter", "_on_end")

    def __init__(self, inner: StreamSource, meter: StreamUsage, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._meter = meter
        self._on_end = on_end
        self._ended = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        try:
            while True:
                item = self._meter.feed(await self._inner.__anext__())
                if item is not None:
                    return item
        except BaseException:
            self._end()
            raise

    async def aclose(self) -> None:
        self._end()
        await close_quietly(self._inner)

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._on_end()

    def __del__(self) -> None:
        self._end()


def ask_for_stream_usage(request: ProxyRequest) -> bool:
    """Make a canonical chat stream report its usage (OpenAI's ``stream_options.include_usage``): limits and spend
    need it. True when the client did not ask for it, so the usage chunk is dropped before it reaches the client.
    Other dialects always report usage in their streams."""
    if not request.stream or request.native is not None or request.endpoint is not Endpoint.CHAT:
        return False
    options = request.body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return False
    merged = {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    request.body = {**request.body, "stream_options": merged}
    request.raw = orjson.dumps(request.body)
    return True
