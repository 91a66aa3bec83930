"""``SpendRecord``: what one request spent and on whose behalf — the unit the ledger stores — and its compact
spool encoding (an orjson array, versioned, ≈1 µs each way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from wardgate.storage.ids import new_id

VERSION = 1


def new_spend_id() -> str:
    """A unique record id (the ledger's idempotency key: a replayed record is never counted twice)."""
    return new_id("spend")


@dataclass(frozen=True, slots=True, kw_only=True)
class SpendRecord:
    """One request's spend. ``id`` must be unique per request (``new_spend_id()``; not the client's request id,
    which a client may repeat). ``at`` is timezone-aware (UTC is assumed for a naive value). ``cost_known`` is
    False when no price was found (the cost is then 0 and counted as ``unpriced`` in reports)."""

    id: str = field(default_factory=new_spend_id)
    request_id: str | None = None
    at: datetime
    org_id: str | None = None
    team_id: str | None = None
    project_id: str | None = None
    key_id: str | None = None
    user_id: str | None = None
    agent: str | None = None
    app: str | None = None
    model: str | None = None
    """The model the client asked for (alias included)."""
    provider: str | None = None
    deployment: str | None = None
    upstream_model: str | None = None
    tags: tuple[str, ...] = ()
    endpoint: str | None = None
    stream: bool = False
    status: int = 200
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    cost_known: bool = True


def encode(r: SpendRecord) -> bytes:
    """The spool form: a positional JSON array (field order is the format; bump ``VERSION`` to change it)."""
    return orjson.dumps(
        (
            VERSION,
            r.id,
            r.request_id,
            r.at,
            r.org_id,
            r.team_id,
            r.project_id,
            r.key_id,
            r.user_id,
            r.agent,
            r.app,
            r.model,
            r.provider,
            r.deployment,
            r.upstream_model,
            r.tags,
            r.endpoint,
            r.stream,
            r.status,
            r.input_tokens,
            r.output_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.reasoning_tokens,
            str(r.cost_usd),
            r.cost_known,
        )
    )


def decode(data: bytes) -> SpendRecord:
    """The record ``encode`` made; ``ValueError`` for anything else (a corrupt or foreign record)."""
    try:
        f: list[Any] = orjson.loads(data)
        if f[0] != VERSION or len(f) != 26:
            raise ValueError(f"unknown spend record version {f[0]!r}")
        return SpendRecord(
            id=str(f[1]),
            request_id=f[2],
            at=_utc(datetime.fromisoformat(f[3])),
            org_id=f[4],
            team_id=f[5],
            project_id=f[6],
            key_id=f[7],
            user_id=f[8],
            agent=f[9],
            app=f[10],
            model=f[11],
            provider=f[12],
            deployment=f[13],
            upstream_model=f[14],
            tags=tuple(str(tag) for tag in f[15]),
            endpoint=f[16],
            stream=bool(f[17]),
            status=int(f[18]),
            input_tokens=int(f[19]),
            output_tokens=int(f[20]),
            cached_input_tokens=int(f[21]),
            cache_write_tokens=int(f[22]),
            reasoning_tokens=int(f[23]),
            cost_usd=Decimal(f[24]),
            cost_known=bool(f[25]),
        )
    except (orjson.JSONDecodeError, IndexError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"not a spend record: {exc}") from None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
