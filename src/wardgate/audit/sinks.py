"""The audit sinks: where ``audit.forward`` delivers batches of records.

* ``file`` — JSON lines appended to ``path``, fsynced once per delivered batch; before a line would take the file
  past ``max_bytes`` it is rotated (``path`` → ``path.1`` → … → ``path.N``, ``N = backups``; the oldest is dropped).
  A file that another process rotated meanwhile is reopened, so the lines always go to ``path``.
* ``stdout`` — JSON lines on standard output (the gateway's own logs go to stderr).
* ``webhook`` — one POST per batch, a JSON array of records, with the configured headers; any 2xx is delivered.
* ``splunk_hec`` — one POST per batch to ``{url}/services/collector/event`` with ``Authorization: Splunk <token>``;
  the body is HEC's batch format, event objects one after another:
  ``{"time": <epoch seconds>, "host": …, "source": …, "sourcetype": …, "index": …, "event": <record>}``.
  Delivered only when the collector answers 200 with ``{"text": "Success", "code": 0}``.

A record travels as the exact JSON text the trail stored (its SHA-256 is the row's ``record_hash``, so a receiver
can check it against ``wardgate audit verify``); with ``include_content: false`` it is re-encoded without its
``content``. A row whose record retention purged travels as a stub (``record_stub``): its id, kind, time, team,
``record_hash`` and ``"purged": true``.

Failures raise ``DeliveryError`` with a reason that is safe to log: a status, the collector's own message, an OS
error — never a header, a token or a URL (webhook URLs often carry a secret). Blocking work (file writes, fsync,
encoding large batches) runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import aiohttp
import orjson

from wardgate.config.audit_sinks_config import FileSink, SplunkHecSink, StdoutSink, WebhookSink

SinkConfig = FileSink | StdoutSink | WebhookSink | SplunkHecSink
_ANSWER_BYTES = 64 * 1024
_PERMANENT = frozenset({400, 401, 403, 404, 405, 410, 422})
"""Statuses that retrying the same request will not change; they are still retried (an operator fixes the
receiver or the config), but at the longest backoff."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One ``audit_log`` row as sinks, exports and the admin API read it (the chain columns left out)."""

    seq: int
    id: str
    at: datetime
    kind: str
    request_id: str | None
    team_id: str | None
    record: str | None
    record_hash: str
    purged_at: datetime | None

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> AuditRow:
        return cls(
            seq=int(row["seq"]),
            id=row["id"],
            at=utc(row["at"]),
            kind=row["kind"],
            request_id=row["request_id"],
            team_id=row["team_id"],
            record=row["record"],
            record_hash=row["record_hash"],
            purged_at=utc(row["purged_at"]) if row["purged_at"] is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Item:
    """One record ready to send: its ``seq`` (for the cursor), time (epoch seconds) and JSON text."""

    seq: int
    time: float
    text: str


class DeliveryError(Exception):
    """A batch was not delivered. ``reason`` is safe to log; ``retry_after`` is the receiver's wish (seconds);
    ``permanent`` means retrying the same request is unlikely to help soon; ``too_large`` that a smaller batch
    might pass."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, permanent: bool = False, too_large: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.permanent = permanent
        self.too_large = too_large


class Sink(Protocol):
    @property
    def config(self) -> SinkConfig: ...

    async def deliver(self, items: Sequence[Item]) -> None:
        """Deliver every item or raise ``DeliveryError``."""

    async def close(self) -> None: ...


# --- what a sink receives --------------------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """Aware UTC (SQLite gives back naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """The trail's time format: ``2026-11-30T07:00:00.123456Z``."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record_stub(row: AuditRow) -> dict[str, Any]:
    """What stands for a record that retention purged: enough to count it and to check the chain."""
    return {
        "v": 1,
        "id": row.id,
        "kind": row.kind,
        "at": iso(row.at),
        "request_id": row.request_id,
        "team_id": row.team_id,
        "purged": True,
        "purged_at": iso(row.purged_at) if row.purged_at is not None else None,
        "record_hash": row.record_hash,
    }


def record_text(row: AuditRow, include_content: bool = True) -> str:
    """The JSON text forwarded for one row: the stored record, byte for byte; without ``content`` when asked;
    the stub when purged."""
    if row.record is None:
        return _dumps(record_stub(row))
    if include_content or '"content"' not in row.record:
        return row.record
    document = orjson.loads(row.record)
    if isinstance(document, dict) and "content" in document:
        del document["content"]
        return _dumps(document)
    return row.record


def prepare(rows: Sequence[AuditRow], include_content: bool) -> list[Item]:
    """Rows → items (run in a thread: stripping content parses each record)."""
    return [Item(row.seq, round(row.at.timestamp(), 6), record_text(row, include_content)) for row in rows]


def _dumps(document: Any) -> str:
    """Compact JSON in the document's own key order (the trail's canonical form)."""
    return orjson.dumps(document).decode()


def json_array(items: Sequence[Item]) -> bytes:
    return ("[" + ",".join(item.text for item in items) + "]").encode()


def hec_events(items: Sequence[Item], meta: Mapping[str, Any]) -> bytes:
    """HEC's batch body: one event object per record, concatenated (no separator), the record as ``event``."""
    fields = orjson.dumps(dict(meta))[1:-1]
    return b"".join(
        b"".join((b'{"time":', orjson.dumps(item.time), b",", fields, b',"event":', item.text.encode(), b"}"))
        for item in items
    )


# --- file and stdout -------------------------------------------------------------------------------------------


class FileLines:
    """The ``file`` sink. One lock serialises writes, rotation and close (a cancelled delivery's thread may still
    be writing when the next one starts)."""

    def __init__(self, config: FileSink) -> None:
        self.config = config
        self.path = Path(config.path)
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    async def deliver(self, items: Sequence[Item]) -> None:
        lines = [item.text.encode() + b"\n" for item in items]
        try:
            await asyncio.to_thread(self._write, lines)
        except OSError as exc:
            raise DeliveryError(f"cannot write {self.path}: {exc.strerror or type(exc).__name__}") from None

    def _write(self, lines: list[bytes]) -> None:
        with self._lock:
            handle = self._current()
            size, pending = handle.tell(), bytearray()
            for line in lines:
                if size + len(pending) > 0 and size + len(pending) + len(line) > self.config.max_bytes:
                    handle = self._flush_and_rotate(handle, pending)
                    size, pending = 0, bytearray()
                pending += line
            handle.write(pending)
            handle.flush()
            os.fsync(handle.fileno())

    def _current(self) -> IO[bytes]:
        """The open file, reopened when ``path`` is no longer it (rotated or removed by someone else)."""
        if self._file is not None:
            try:
                same = os.stat(self.path).st_ino == os.fstat(self._file.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return self._file
            self._file.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 (kept open across batches; closed by close())
        return self._file

    def _flush_and_rotate(self, handle: IO[bytes], pending: bytearray) -> IO[bytes]:
        handle.write(pending)
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        self._file = None
        backups = self.config.backups
        if backups == 0:
            self.path.unlink(missing_ok=True)
        else:
            for n in range(backups - 1, 0, -1):
                older = self._numbered(n)
                if older.exists():
                    os.replace(older, self._numbered(n + 1))
            os.replace(self.path, self._numbered(1))
        _fsync_dir(self.path.parent)
        return self._current()

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def _close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform opens directories
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class StdoutLines:
    """The ``stdout`` sink: whole lines, each written in one call, so other writers never split one."""

    def __init__(self, config: StdoutSink, stream: IO[bytes] | None = None) -> None:
        self.config = config
        self._stream = stream

    async def deliver(self, items: Sequence[Item]) -> None:
        try:
            await asyncio.to_thread(self._write, [item.text.encode() + b"\n" for item in items])
        except (OSError, ValueError) as exc:  # a closed or broken pipe
            raise DeliveryError(f"cannot write to stdout: {getattr(exc, 'strerror', None) or exc}") from None

    def _write(self, lines: list[bytes]) -> None:
        stream = self._stream or sys.stdout.buffer
        sys.stdout.flush()
        for line in lines:
            stream.write(line)
        stream.flush()

    async def close(self) -> None:
        return None


# --- HTTP ------------------------------------------------------------------------------------------------------


class Webhook:
    """The ``webhook`` sink."""

    def __init__(self, config: WebhookSink, session: aiohttp.ClientSession) -> None:
        self.config = config
        self._session = session

    async def deliver(self, items: Sequence[Item]) -> None:
        body = await asyncio.to_thread(json_array, items)
        headers = {"Content-Type": "application/json"}
        headers.update({name: value.get_secret_value() for name, value in self.config.headers.items()})
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        try:
            async with self._session.post(
                self.config.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return
                raise _status_error(response, f"HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(describe(exc)) from None

    async def close(self) -> None:
        return None


class SplunkHec:
    """The ``splunk_hec`` sink. A channel id is sent with every request, so tokens with indexer acknowledgment
    on accept the events too (delivered means the collector accepted them; acks are not polled)."""

    def __init__(self, config: SplunkHecSink, session: aiohttp.ClientSession) -> None:
        self.config = config
        self._session = session
        meta: dict[str, Any] = {
            "host": config.host or socket.gethostname(),
            "source": config.source,
            "sourcetype": config.sourcetype,
        }
        if config.index:
            meta["index"] = config.index
        self.meta = meta
        self._channel = str(uuid.uuid4())

    async def deliver(self, items: Sequence[Item]) -> None:
        body = await asyncio.to_thread(hec_events, items, self.meta)
        headers = {
            "Authorization": f"Splunk {self.config.token.get_secret_value()}",
            "Content-Type": "application/json",
            "X-Splunk-Request-Channel": self._channel,
        }
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        try:
            async with self._session.post(
                self.config.endpoint, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                answer = _hec_answer(await response.content.read(_ANSWER_BYTES))
                if response.status == 200 and answer is not None and answer.get("code") == 0:
                    return
                raise _status_error(response, _hec_reason(response.status, answer))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(describe(exc)) from None

    async def close(self) -> None:
        return None


def _hec_answer(raw: bytes) -> dict[str, Any] | None:
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) else None


def _hec_reason(status: int, answer: Mapping[str, Any] | None) -> str:
    """``HTTP 400: Invalid data format (code 6, event 3)`` — the collector's own words, which hold no secret."""
    if answer is None:
        return f"HTTP {status}: not an HTTP Event Collector answer"
    text = str(answer.get("text", ""))[:200]
    detail = f"code {answer.get('code')}"
    if "invalid-event-number" in answer:
        detail += f", event {answer['invalid-event-number']}"
    return f"HTTP {status}: {text} ({detail})"


def _status_error(response: aiohttp.ClientResponse, reason: str) -> DeliveryError:
    status = response.status
    return DeliveryError(
        reason,
        retry_after=retry_after(response.headers.get("Retry-After")),
        permanent=status in _PERMANENT,
        too_large=status == 413,
    )


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds only; an HTTP date is ignored)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def describe(exc: BaseException) -> str:
    """A transport failure in words that name no URL (it may carry a secret) and no header."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the receiver closed the connection"
    return type(exc).__name__


def build_sink(config: SinkConfig, session: aiohttp.ClientSession) -> Sink:
    """The sink for one ``audit.sinks`` entry (HTTP sinks share the forwarder's session)."""
    if isinstance(config, FileSink):
        return FileLines(config)
    if isinstance(config, StdoutSink):
        return StdoutLines(config)
    if isinstance(config, WebhookSink):
        return Webhook(config, session)
    return SplunkHec(config, session)
