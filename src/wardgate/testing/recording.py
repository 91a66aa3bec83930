"""A bounded, thread-safe log of the requests a fake server received."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One received request. ``headers`` keys are lower-cased; ``json`` is None if the body is not JSON."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "json": self.json,
            "received_at": self.received_at,
        }


class RequestLog:
    """Keeps the last ``maxlen`` requests; safe to read from another thread than the server's."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._lock = threading.Lock()
        self._items: deque[RecordedRequest] = deque(maxlen=maxlen)
        self.total = 0

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)
            self.total += 1

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def last(self) -> RecordedRequest | None:
        with self._lock:
            return self._items[-1] if self._items else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.total = 0

    def __len__(self) -> int:
        return len(self._items)
