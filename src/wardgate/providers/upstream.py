"""What every HTTP provider client shares around the transport: upstream URLs parsed once and cached, bounded
reading of error answers, and the stream relay loop that feeds upstream bytes to a dialect's relay and only ends
cleanly when the provider signalled a real finish."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol
from urllib.parse import urlencode

from yarl import URL

from wardgate.core.errors import GatewayError, StreamInterruptedError
from wardgate.providers.base import UpstreamCall
from wardgate.providers.transport import MAX_ERROR_BODY, UpstreamReply, iter_body

DECODE_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError)
ErrorMapper = Callable[[int, bytes, Mapping[str, str]], GatewayError]
Scrub = Callable[[GatewayError], GatewayError]


class StreamRelay(Protocol):
    """Raw upstream bytes in, complete items out (event payloads or SSE frames); ``finish`` raises when the
    provider never signalled its end."""

    def feed(self, data: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


class UrlCache:
    """The configured base URL plus an adapter's path and query, as text and parsed, cached (bounded). With
    ``encoded`` the path is kept byte for byte (it is already percent-encoded, and may be signed that way)."""

    def __init__(self, base_url: str, *, encoded: bool = False) -> None:
        self._base_url = base_url
        self._encoded = encoded
        self._urls: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, URL]] = {}

    def get(self, call: UpstreamCall) -> tuple[str, URL]:
        key = (call.path, tuple(call.query.items()) if call.query else ())
        found = self._urls.get(key)
        if found is None:
            if len(self._urls) > 1024:
                self._urls.clear()
            text = self._base_url + call.path + (f"?{urlencode(call.query)}" if call.query else "")
            found = self._urls[key] = (text, URL(text, encoded=self._encoded))
        return found


async def read_error(reply: UpstreamReply, provider: str, map_error: ErrorMapper, scrub: Scrub) -> GatewayError:
    """The gateway error for a non-200 answer (its body read with a bound; an unreadable body maps as empty)."""
    try:
        body = await reply.read_all(provider, MAX_ERROR_BODY)
    except GatewayError:
        body = b""
    return scrub(map_error(reply.status, body, reply.headers))


async def relay_stream(
    reply: UpstreamReply, provider: str, idle: float, relay: StreamRelay, scrub: Scrub
) -> AsyncIterator[bytes]:
    """Feed upstream bytes to ``relay`` as they arrive and yield what it completes. A stream that ends before the
    provider signalled its end, or carries an unreadable event, raises; the connection is reused only after a
    clean finish."""
    finished = False
    body = iter_body(reply, provider, idle)
    try:
        async for data in body:
            for item in relay.feed(data):
                yield item
        for item in relay.finish():
            yield item
        finished = True
    except GatewayError as exc:
        raise scrub(exc) from None
    except DECODE_ERRORS:
        raise StreamInterruptedError(f"provider {provider} sent a stream event that could not be read") from None
    finally:
        await body.aclose()
        if finished:
            reply.response.release()
        else:
            reply.response.close()
