"""Shared mode for circuit breakers: every replica skips a deployment that one replica found dead (Redis).

The request path never waits on Redis. Each replica keeps its own ``CircuitBreakerBoard`` in memory and decides
locally; the board tells ``SharedBreakers`` about each transition it decides (a queue append), and a background
task sends it to the others:

* **Transitions** (``open``, ``half_open``, ``closed``, ``reset``, ``cool_down``) go out on the pub/sub channel
  ``{prefix}:events`` as they happen. Every replica subscribes and applies the others' transitions to its own board:
  an open on A opens the breaker on B for the same remaining cool-down (and the same trip level, so B's next
  cool-down doubles too); a half-open on A marks A's probe as out, so B sends no probe of its own while it lasts;
  a close after A's successful probe (or an admin reset) closes it on B.
* **State in force** is also written to keys that expire with it: ``{prefix}:open:{deployment}`` for the
  cool-down of an open breaker and ``{prefix}:cool:{deployment}`` for a provider's ``Retry-After``. A replica
  that starts, or reconnects after missing messages, reads them (their TTL is the time left) after subscribing.
* **Counters**: every ``sync_interval_seconds`` each replica sends the requests and failures it recorded per
  deployment; the others add them to their windows, so the failure ratio covers the whole cluster's traffic.
  Failures in a row stay per replica.

Consistency model: eventual, best effort, within one Redis round trip (milliseconds) while Redis is up. Each
replica's board is the authority for what it lets through; remote transitions only make it more cautious (open,
probe out elsewhere, cool-down) or undo a trip someone proved wrong (closed, reset). Replicas may briefly disagree:
two may trip the same breaker at once (the later cool-down end wins), or send one probe each if their half-open
messages cross. Only durations travel — message ``duration`` fields and key TTLs (measured by Redis's own clock) —
so clock skew between replicas does not matter; a message's transit delay lengthens the remote cool-down by that
delay. A ``closed`` that a replica missed is not in the keys (closing deletes them): that replica's breaker
half-opens when its own cool-down ends and probes for itself. When Redis is down, each replica keeps its local
breakers (the outage is logged once, and its end); the subscriber reconnects with exponential backoff and reloads
the keys, and after a failed send the publisher re-sends everything in force once it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import orjson
import redis.asyncio as redis
from redis.asyncio.client import Pipeline, PubSub

from wardgate.config.schema import GatewayConfig
from wardgate.routing.breaker import BreakerBoard, CircuitBreakerBoard, OpenBoard, follow_config
from wardgate.routing.breaker_state import Transition, TransitionKind

_FIRST_BACKOFF = 0.1
_KINDS: dict[object, TransitionKind] = {
    "open": "open",
    "half_open": "half_open",
    "closed": "closed",
    "reset": "reset",
    "cool_down": "cool_down",
}
_KEYS: tuple[tuple[str, TransitionKind], ...] = (("open", "open"), ("cool", "cool_down"))
_log = logging.getLogger("wardgate.routing")


class SharedBreakers:
    """Connects one replica's board to the others through Redis (see the module docstring)."""

    def __init__(
        self,
        board: CircuitBreakerBoard,
        url: str,
        *,
        prefix: str = "wardgate:breaker",
        sync_interval: float = 1.0,
        timeout: float = 1.0,
        max_backoff: float = 5.0,
        queue_size: int = 10_000,
    ) -> None:
        self.board, self._url, self.prefix = board, url, prefix
        self.channel = f"{prefix}:events"
        self._sync_interval, self._timeout, self._max_backoff = sync_interval, timeout, max_backoff
        self.sender = os.urandom(8).hex()
        self._client: redis.Redis = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self._queue: asyncio.Queue[tuple[Transition, float]] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._resync = False
        self._down_logged = False
        self._subscribed_once = False
        self.sent = 0
        """Redis commands sent (PUBLISH, SET, DEL)."""
        self.received = 0
        """Messages from other replicas applied."""
        self.dropped = 0
        """Transitions dropped because the queue was full (everything in force is sent again)."""
        self.failures = 0

    async def start(self, wait: float = 2.0) -> None:
        """Listen and send in the background; waits up to ``wait`` seconds for the subscription (and the state in
        force) so a replica starts knowing what the others know. A down Redis is retried, never fatal."""
        self.board.listener = self._enqueue
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="breaker-listen"),
            asyncio.create_task(self._send_forever(), name="breaker-send"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._subscribed.wait()

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    async def close(self) -> None:
        if self.board.listener == self._enqueue:
            self.board.listener = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self._client.aclose()

    # --- sending -------------------------------------------------------------------------------------------------

    def _enqueue(self, transition: Transition) -> None:
        """The board's listener, on the request path: a queue append, never I/O."""
        try:
            self._queue.put_nowait((transition, asyncio.get_running_loop().time()))
        except asyncio.QueueFull:
            self.dropped += 1
            self._resync = True  # send everything in force once the queue drains

    async def _send_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_counts = loop.time() + self._sync_interval
        backoff = _FIRST_BACKOFF
        unsent: list[tuple[Transition, float]] = []  # a failed send's transitions, tried again (they age as they wait)
        while True:
            wait = 0.0 if unsent or self._resync else max(0.0, next_counts - loop.time())
            batch = unsent + await self._next_batch(wait)
            counts: dict[str, tuple[int, int]] = {}
            if loop.time() >= next_counts:
                next_counts = loop.time() + self._sync_interval
                counts = self.board.take_counts()
            # the others may have missed some: what is in force now goes last, so it wins
            standing = [(t, loop.time()) for t in self.board.standing()] if self._resync else []
            if not (batch or counts or standing):
                self._resync = False
                continue
            try:
                sent = await self._send(batch + standing, counts)
            except (redis.RedisError, OSError, TimeoutError) as error:
                self._outage("sending", error)
                unsent, self._resync = batch[-self._queue.maxsize :], True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            unsent, backoff, self._resync = [], _FIRST_BACKOFF, False
            if sent:  # it reached Redis
                self._recovered()

    async def _next_batch(self, wait: float) -> list[tuple[Transition, float]]:
        batch: list[tuple[Transition, float]] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                batch.append(await self._queue.get())
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    async def _send(self, batch: list[tuple[Transition, float]], counts: dict[str, tuple[int, int]]) -> bool:
        """One pipeline round trip; False when nothing was left to send (everything in it had expired)."""
        now = asyncio.get_running_loop().time()
        pipe = self._client.pipeline(transaction=False)
        for transition, queued_at in batch:
            left = transition.duration - (now - queued_at)  # the time it waited here is already spent
            if transition.kind in ("open", "half_open", "cool_down") and left <= 0:
                continue
            message = {"kind": transition.kind, "id": transition.deployment_id, "duration": max(left, 0.0)}
            pipe.publish(self.channel, self._encode({**message, "level": transition.level}))
            self._keys(pipe, transition, left)
        if counts:
            wire = {deployment_id: list(pair) for deployment_id, pair in counts.items()}
            pipe.publish(self.channel, self._encode({"kind": "counts", "counts": wire}))
        commands = len(pipe)
        if not commands:
            return False
        async with asyncio.timeout(self._timeout):
            await pipe.execute()
        self.sent += commands
        return True

    def _keys(self, pipe: Pipeline, transition: Transition, left: float) -> None:
        deployment_id = transition.deployment_id
        open_key, cool_key = self._key("open", deployment_id), self._key("cool", deployment_id)
        value = self._encode({"level": transition.level})
        if transition.kind == "open":
            pipe.set(open_key, value, px=max(1, int(left * 1000)))
        elif transition.kind == "cool_down":
            pipe.set(cool_key, value, px=max(1, int(left * 1000)))
        elif transition.kind == "closed":
            pipe.delete(open_key)
        elif transition.kind == "reset":
            pipe.delete(open_key, cool_key)

    def _key(self, kind: str, deployment_id: str) -> str:
        return f"{self.prefix}:{kind}:{deployment_id}"

    def _encode(self, message: dict[str, Any]) -> bytes:
        return orjson.dumps({"v": 1, "sender": self.sender, **message})

    # --- receiving -----------------------------------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        backoff = _FIRST_BACKOFF
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self._outage("receiving", error)
                if self._subscribed_once:
                    backoff = _FIRST_BACKOFF  # it had worked: a new outage starts the backoff afresh
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _listen(self) -> None:
        self._subscribed_once = False
        client = redis.Redis.from_url(
            self._url, socket_connect_timeout=self._timeout, health_check_interval=30, client_name=self._name()
        )
        pubsub: PubSub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            await self._load(client)  # what is in force: messages sent while we were away are lost
            self._subscribed.set()
            self._subscribed_once = True
            self._recovered()
            while True:
                message = await pubsub.get_message(timeout=30.0)
                if message is not None and message.get("type") == "message":
                    self._handle(message.get("data"))
        finally:
            self._subscribed.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()

    def _name(self) -> str:
        return f"wardgate-breaker-{self.sender}"

    async def _load(self, client: redis.Redis) -> None:
        for kind, transition_kind in _KEYS:
            pattern = self._key(kind, "*")
            keys = [key async for key in client.scan_iter(match=pattern, count=500)]
            if not keys:
                continue
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            answers = await pipe.execute()
            start = len(self._key(kind, ""))
            for index, key in enumerate(keys):
                value, ttl = answers[2 * index], answers[2 * index + 1]
                name = (key.decode() if isinstance(key, bytes) else str(key))[start:]
                if value is None or not isinstance(ttl, int) or ttl <= 0:
                    continue  # expired between SCAN and GET
                level = _decode(value).get("level", 0)
                level = level if isinstance(level, int) else 0
                self.board.apply(Transition(name, transition_kind, ttl / 1000, level))

    def _handle(self, data: object) -> None:
        message = _decode(data)
        if message.get("sender") == self.sender or message.get("v") != 1:
            return
        self.received += 1
        kind = message.get("kind")
        if kind == "counts":
            counts = message.get("counts")
            if isinstance(counts, dict):
                self.board.add_counts({str(k): (int(v[0]), int(v[1])) for k, v in counts.items() if _pair(v)})
            return
        known = _KINDS.get(kind)
        deployment_id, duration, level = message.get("id"), message.get("duration", 0.0), message.get("level", 0)
        if known is None or not isinstance(deployment_id, str) or not isinstance(duration, int | float):
            return
        self.board.apply(Transition(deployment_id, known, float(duration), level if isinstance(level, int) else 0))

    # --- outages -------------------------------------------------------------------------------------------------

    def _outage(self, doing: str, error: BaseException) -> None:
        self.failures += 1
        if self._down_logged:
            _log.debug("breaker sharing: Redis still unavailable (%s): %s", doing, type(error).__name__)
            return
        self._down_logged = True
        _log.warning(
            "breaker state not shared: Redis unavailable; each replica keeps its own breakers until it is back",
            extra={"fields": {"error": type(error).__name__, "while": doing}},
        )

    def _recovered(self) -> None:
        if self._down_logged:
            self._down_logged = False
            _log.info("breaker sharing through Redis restored")


def _decode(data: object) -> dict[str, Any]:
    try:
        decoded = orjson.loads(data) if isinstance(data, bytes | str) else None
    except orjson.JSONDecodeError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _pair(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(n, int) and n >= 0 for n in value)


async def open_breakers(gateway: GatewayConfig, redis_url: str | None) -> tuple[BreakerBoard, SharedBreakers | None]:
    """The board a gateway runs with (``server.breaker``): none that ejects when breakers are off; shared through
    Redis when a URL is configured and ``shared`` is on (started here; the caller closes it on shutdown). It
    knows ``gateway``'s deployments, so a later config that changes one closes its breaker (``follow_config``)."""
    config = gateway.server.breaker
    if not config.enabled:
        return OpenBoard(), None
    board = CircuitBreakerBoard(config)
    follow_config(board, gateway)
    if not (redis_url and config.shared):
        return board, None
    shared = SharedBreakers(board, redis_url, prefix=config.redis_prefix, sync_interval=config.sync_interval_seconds)
    await shared.start()
    return board, shared
