"""Identity change notifications between replicas (shared mode, Redis pub/sub).

Every ``AppState.identity_changed()`` publishes one small message on ``CHANNEL``; every replica subscribes and
refreshes its ``IdentityCache`` on receipt (its own messages are skipped: the local refresh already ran). A revoked
key is then refused everywhere within one refresh query instead of one poll interval. Redis is never on the request
path: publishing happens after an admin commit (bounded by ``publish_timeout``, a failure is logged and the poll
still delivers the change), and the subscriber runs in a background task that reconnects with exponential backoff
and refreshes after every (re)connect, since messages sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable

import orjson
import redis.asyncio as redis
from redis.asyncio.client import PubSub

CHANNEL = "wardgate:identity-changed"
_FIRST_BACKOFF = 0.1
_log = logging.getLogger("wardgate.identity")


class IdentityNotifier:
    """Publishes and receives "identity changed" messages; ``on_change`` is called for other replicas' messages."""

    def __init__(
        self,
        url: str,
        on_change: Callable[[], Awaitable[object]],
        *,
        channel: str = CHANNEL,
        publish_timeout: float = 1.0,
        max_backoff: float = 5.0,
    ) -> None:
        self._url, self._on_change, self.channel = url, on_change, channel
        self._publish_timeout, self._max_backoff = publish_timeout, max_backoff
        self._sender = os.urandom(8).hex()
        self.client_name = f"wardgate-identity-{self._sender}"
        """The subscriber connection's name in ``CLIENT LIST``."""
        self._client: redis.Redis = redis.Redis.from_url(
            url, socket_connect_timeout=publish_timeout, socket_timeout=publish_timeout
        )
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._was_subscribed = False
        self.published = 0
        self.received = 0
        self.failures = 0

    async def start(self, wait: float = 2.0) -> None:
        """Start listening in the background, waiting up to ``wait`` seconds for the subscription so a replica is
        listening before it reports ready. A down Redis is retried in the background, never fatal."""
        self._task = asyncio.create_task(self._listen_forever(), name="identity-notify")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._subscribed.wait()

    @property
    def subscribed(self) -> bool:
        """Whether the subscription is live (for tests and health)."""
        return self._subscribed.is_set()

    async def publish(self) -> None:
        """Tell the other replicas; never raises (the poll is the fallback)."""
        message = orjson.dumps({"sender": self._sender})
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._client.publish(self.channel, message)
            self.published += 1
        except (redis.RedisError, OSError, TimeoutError) as error:
            self.failures += 1
            _log.warning("identity change not published to Redis: %s", type(error).__name__)

    async def _listen_forever(self) -> None:
        backoff = _FIRST_BACKOFF
        while True:
            self._was_subscribed = False
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.failures += 1
                if self._was_subscribed:
                    backoff = _FIRST_BACKOFF  # it had worked: a new outage starts the backoff afresh
                _log.warning(
                    "identity notifications from Redis interrupted; retrying",
                    extra={"fields": {"error": type(error).__name__, "retry_in": backoff}},
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _listen(self) -> None:
        client = redis.Redis.from_url(
            self._url,
            socket_connect_timeout=self._publish_timeout,
            health_check_interval=30,
            client_name=self.client_name,
        )
        pubsub: PubSub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            self._was_subscribed = True
            await self._on_change()  # whatever changed while we were not listening
            while True:
                message = await pubsub.get_message(timeout=30.0)
                if message is not None and message.get("type") == "message" and self._foreign(message.get("data")):
                    self.received += 1
                    await self._on_change()
        finally:
            self._subscribed.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()

    def _foreign(self, data: object) -> bool:
        try:
            decoded = orjson.loads(data) if isinstance(data, bytes | str) else None
        except orjson.JSONDecodeError:
            return True  # not ours: refreshing once too often is harmless
        return not (isinstance(decoded, dict) and decoded.get("sender") == self._sender)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._client.aclose()
