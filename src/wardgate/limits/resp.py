"""A minimal pipelined Redis client for the rate-limit hot path: one connection, commands written as they come,
replies matched in order, parsed by hiredis (Redis's own C parser).

Why not redis-py here: measured on this machine, one ``EVALSHA`` through redis-py's asyncio client costs 58 to 85 µs
of gateway CPU (connection pool, command packing, per-call timeouts), this client 9 to 23 µs; the issue's budget for
all of rate limiting is 60 µs per request. Everything else that talks to Redis (identity notifications, breakers,
admin tools) keeps using redis-py.

Only what the limits need: ``call(*args)``, scripts by SHA with a fallback to ``EVAL`` when Redis lost them
(``NOSCRIPT`` after a restart), ``ping``. A connection failure fails every pending call with
``ConnectionError``; the next call reconnects. Timeouts are kept by one watchdog per connection rather than a
timer per call: when the oldest pending reply is older than the timeout, the connection is dropped and every
pending call fails with ``TimeoutError`` (replies would be out of step with their callers otherwise).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from typing import Any, cast
from urllib.parse import unquote, urlparse

import hiredis

Arg = bytes | str | int | float


def pack(args: tuple[Arg, ...]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RedisReplyError(Exception):
    """Redis answered with an error (a script error, a wrong type …)."""


class _Protocol(asyncio.Protocol):
    def __init__(self, timeout: float) -> None:
        self.reader = hiredis.Reader()
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.sent: deque[float] = deque()
        """When each pending command was queued (loop time), in the same order."""
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.outbox: list[bytes] = []
        self.timeout = timeout
        self._watchdog: asyncio.TimerHandle | None = None

    def send(self, command: bytes) -> None:
        """Queue a command; everything queued in one event-loop turn leaves in one write (one system call), which
        under load costs a fraction of a write per command."""
        if not self.outbox:
            asyncio.get_running_loop().call_soon(self.flush)
        self.outbox.append(command)

    def flush(self) -> None:
        if self.outbox and self.transport is not None and not self.lost:
            data = self.outbox[0] if len(self.outbox) == 1 else b"".join(self.outbox)
            self.transport.write(data)
        self.outbox.clear()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes
        self._watchdog = asyncio.get_running_loop().call_later(self.timeout / 2, self._watch)

    def _watch(self) -> None:
        if self.lost:
            return
        loop = asyncio.get_running_loop()
        if self.sent and loop.time() - self.sent[0] > self.timeout:
            self.fail(TimeoutError("Redis did not answer in time"))
            if self.transport is not None:
                self.transport.abort()
            return
        self._watchdog = loop.call_later(self.timeout / 2, self._watch)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            if not self.pending:
                continue
            future = self.pending.popleft()
            self.sent.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(RedisReplyError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(ConnectionError("the Redis connection was lost"))

    def fail(self, error: Exception) -> None:
        self.lost = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)
        self.sent.clear()


class RespClient:
    def __init__(self, url: str, *, timeout: float = 0.25) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", ""):
            raise ValueError("the rate-limit client speaks redis:// only")
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or 6379
        self._db = int(parsed.path.lstrip("/") or 0)
        self._password = unquote(parsed.password) if parsed.password else None
        self._username = unquote(parsed.username) if parsed.username else None
        self._timeout = timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._scripts: dict[str, bytes] = {}
        """Script source → the packed head of its EVALSHA command (name, SHA, one key)."""

    async def call(self, *args: Arg) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        return await self._send(protocol, args)

    def _send(self, protocol: _Protocol, args: tuple[Arg, ...], packed: bytes | None = None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        protocol.pending.append(future)
        protocol.sent.append(loop.time())
        protocol.send(packed if packed is not None else pack(args))
        return future

    async def script(self, source: str, key: str, payload: bytes) -> Any:
        """``EVALSHA`` the script with one key and one argument, loading it with ``EVAL`` when Redis does not know
        it. The command's head is packed once per script."""
        head = self._scripts.get(source)
        if head is None:
            sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
            head = self._scripts[source] = b"*5\r\n$7\r\nEVALSHA\r\n$40\r\n%s\r\n$1\r\n1\r\n" % sha.encode()
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        encoded = key.encode()
        command = b"%s$%d\r\n%s\r\n$%d\r\n%s\r\n" % (head, len(encoded), encoded, len(payload), payload)
        try:
            return await self._send(protocol, (), command)
        except RedisReplyError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        return await self.call("EVAL", source, 1, key, payload)

    async def ping(self) -> bool:
        try:
            return bool(await self.call("PING") == b"PONG")
        except (OSError, TimeoutError, RedisReplyError):
            return False

    async def close(self) -> None:
        if self._protocol is not None:
            self._drop(self._protocol)

    async def _connect(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and not self._protocol.lost:
                return self._protocol
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self._timeout):
                _, protocol = await loop.create_connection(lambda: _Protocol(self._timeout), self._host, self._port)
            try:
                if self._password is not None:
                    auth = (self._username, self._password) if self._username else (self._password,)
                    await self._send(protocol, ("AUTH", *auth))
                if self._db:
                    await self._send(protocol, ("SELECT", self._db))
            except BaseException:
                self._drop(protocol)
                raise
            self._protocol = protocol
            return protocol

    def _drop(self, protocol: _Protocol) -> None:
        if protocol.transport is not None:
            protocol.transport.abort()
        protocol.fail(ConnectionError("the Redis connection was closed"))
        if self._protocol is protocol:
            self._protocol = None
