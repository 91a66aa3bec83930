"""HTTP control API of the fake servers (``/_fake/*``) and ``RemoteFake``, a small sync client for it.

Endpoints (never recorded, never auth-checked):
  POST   /_fake/script    a Behavior as JSON, a list of them, or {"behaviors": [...]} -> queued FIFO
  POST   /_fake/default   a Behavior as JSON -> the default behaviour
  POST   /_fake/reset     drop scripts, default, recordings and counters
  GET    /_fake/requests  {"total": n, "requests": [RecordedRequest.to_dict(), ...]} (``?limit=N``: last N)
  DELETE /_fake/requests  clear the recordings
  GET    /_fake/stats     counters: requests, cancelled_streams, cancelled_requests, completed_streams, ...
  GET    /_fake/health    {"ok": true}
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from wardgate.testing.responses import json_response
from wardgate.testing.script import Behavior

if TYPE_CHECKING:
    from wardgate.testing.state import FakeState

PREFIX = "/_fake"


def add_control_routes(app: web.Application, fake: FakeState) -> None:
    routes = _ControlRoutes(fake)
    app.router.add_post(f"{PREFIX}/script", routes.script)
    app.router.add_post(f"{PREFIX}/default", routes.set_default)
    app.router.add_post(f"{PREFIX}/reset", routes.reset)
    app.router.add_get(f"{PREFIX}/requests", routes.requests)
    app.router.add_delete(f"{PREFIX}/requests", routes.clear_requests)
    app.router.add_get(f"{PREFIX}/stats", routes.stats)
    app.router.add_get(f"{PREFIX}/health", routes.health)


def _bad(message: str) -> web.Response:
    return json_response({"error": {"message": message, "type": "fake_control_error"}}, 400)


class _ControlRoutes:
    def __init__(self, fake: FakeState) -> None:
        self.fake = fake

    async def _behaviors(self, request: web.Request) -> list[Behavior]:
        data = orjson.loads(await request.read())
        if isinstance(data, dict) and set(data) == {"behaviors"}:
            data = data["behaviors"]
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(item, dict) for item in items):
            raise ValueError("expected a Behavior object or a list of them")
        return [Behavior.from_dict(item) for item in items]

    async def script(self, request: web.Request) -> web.Response:
        try:
            behaviors = await self._behaviors(request)
        except (ValueError, orjson.JSONDecodeError) as exc:
            return _bad(str(exc))
        self.fake.script_many(behaviors)
        return json_response({"queued": len(behaviors), "pending": len(self.fake.pending_scripts)})

    async def set_default(self, request: web.Request) -> web.Response:
        try:
            behaviors = await self._behaviors(request)
        except (ValueError, orjson.JSONDecodeError) as exc:
            return _bad(str(exc))
        if len(behaviors) != 1:
            return _bad("expected exactly one Behavior")
        self.fake.set_default(behaviors[0])
        return json_response({"default": behaviors[0].to_dict()})

    async def reset(self, request: web.Request) -> web.Response:
        self.fake.reset()
        return json_response({"ok": True})

    async def requests(self, request: web.Request) -> web.Response:
        items = self.fake.requests
        limit = request.query.get("limit")
        if limit is not None:
            if not limit.isdigit():
                return _bad("limit must be a non-negative integer")
            items = items[len(items) - int(limit) :] if int(limit) else []
        return json_response({"total": self.fake.request_count, "requests": [r.to_dict() for r in items]})

    async def clear_requests(self, request: web.Request) -> web.Response:
        self.fake.clear_requests()
        return json_response({"ok": True})

    async def stats(self, request: web.Request) -> web.Response:
        return json_response(self.fake.stats())

    async def health(self, request: web.Request) -> web.Response:
        return json_response({"ok": True})


class RemoteFake:
    """Synchronous client for a fake server's control API (e.g. one started with the CLI)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("url must be http(s)://host:port")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else orjson.dumps(payload)
        req = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url + PREFIX + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
            return orjson.loads(resp.read())

    def script(self, behavior: Behavior) -> None:
        self._call("POST", "/script", behavior.to_dict())

    def script_many(self, behaviors: Iterable[Behavior]) -> None:
        self._call("POST", "/script", [b.to_dict() for b in behaviors])

    def set_default(self, behavior: Behavior) -> None:
        self._call("POST", "/default", behavior.to_dict())

    def reset(self) -> None:
        self._call("POST", "/reset", {})

    def requests(self, limit: int | None = None) -> list[dict[str, Any]]:
        suffix = "" if limit is None else f"?limit={int(limit)}"
        items: list[dict[str, Any]] = self._call("GET", "/requests" + suffix)["requests"]
        return items

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def stats(self) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", "/stats")
        return result

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Poll ``/_fake/health`` until the server answers (for a server started as a subprocess)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._call("GET", "/health")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
