"""What the audit trail keeps of a request or an admin change, as canonical JSON bytes (version 1).

A request record (``request_record``) says who (the principal's ids — never a key —, client address and user
agent), what (dialect, endpoint, requested model, every upstream attempt with its deployment, outcome and timings),
the outcome (status, error code), the latency breakdown (gateway before the first upstream call, upstream time to
first token and total for the attempt that answered, gateway total), the usage and cost, whether the cache answered,
the policy decisions (refused, or would have been in audit mode), content flags, and — when the team's content mode
is not ``off`` — the prompt and the response (redacted or in full). An admin record (``admin_record``) says who
changed what, with the object before and after (secrets removed by ``storage.changes``).

The bytes are written once, on the request path, and stored exactly as they are: ``record_hash`` is their SHA-256.
Keys are in a fixed order; times are RFC 3339 UTC with microseconds; the cost is exact decimal text.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from wardgate.core.types import Attempt, Principal, RequestContext
    from wardgate.observability.events import RequestEnd

VERSION = 1
_DUMP = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_bits = random.getrandbits


def new_audit_id() -> str:
    """``aud_`` + the time in ns (16 hex digits) + 64 random bits: unique, and increasing over time, so the
    trail's unique index on ids grows at its end instead of at random places (far cheaper per row). The bits need
    no secrecy, only uniqueness: ``random`` (seeded from the OS, and again in each forked worker) is enough."""
    return f"aud_{time.time_ns():016x}{_bits(64):016x}"


def record_time(epoch: float) -> str:
    """A record's ``at``: RFC 3339 UTC, microseconds always present (the chain's ``canonical_time`` form)."""
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _ms(seconds: float) -> float:
    """Milliseconds to the microsecond (durations are never negative)."""
    return int(seconds * 1e6 + 0.5) / 1000


def request_record(
    end: RequestEnd, *, agent: str | None = None, content: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The record of a finished request (a dict in the canonical key order; ``encode`` makes its bytes)."""
    ctx, request = end.ctx, end.request
    usage = ctx.usage
    attempts = ctx.attempts
    record: dict[str, Any] = {
        "v": VERSION,
        "id": new_audit_id(),
        "kind": "request",
        "at": record_time(end.at - end.duration),
        "request_id": ctx.request_id,
        "principal": principal_fields(ctx.principal, agent),
        "client": {"address": ctx.client, "user_agent": ctx.headers.get("user-agent")},
        "dialect": ctx.dialect,
        "endpoint": request.endpoint.value,
        "model": request.model or None,
        "stream": request.stream,
        "status": end.status,
        "error": end.error,
        "attempts": [_attempt(a, ctx.started) for a in attempts],
        "latency_ms": latency(ctx, end.ended),
        "usage": None
        if usage is None
        else {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cached": usage.cached_input_tokens,
            "reasoning": usage.reasoning_tokens,
            "cache_write": usage.cache_write_tokens,
        },
        "cost_usd": str(ctx.cost_usd) if ctx.cost_usd is not None else None,
        "cost_known": ctx.cost_known,
        "cache_hit": ctx.cache_hit,
        "decisions": [
            {"policy": d.policy, "name": d.name, "mode": d.mode, "outcome": d.outcome, "detail": d.detail}
            for d in ctx.decisions
        ],
        "flags": sorted(ctx.flags),
    }
    if content is not None:
        record["content"] = content
    return record


def principal_fields(principal: Principal | None, agent: str | None) -> dict[str, Any] | None:
    if principal is None:
        return None
    app = principal.metadata.get("app") if principal.metadata else None
    return {
        "kind": principal.kind,
        "key_id": principal.key_id,
        "user_id": principal.user_id,
        "team_id": principal.team_id,
        "project_id": principal.project_id,
        "app": app if isinstance(app, str) else principal.service_principal_id,
        "agent": agent,
    }


def _attempt(a: Attempt, origin: float) -> dict[str, Any]:
    return {
        "deployment": a.deployment,
        "provider": a.provider,
        "model": a.deployment_model,
        "route": a.route,
        "status": a.status,
        "error": a.error,
        "start_ms": _ms(a.started - origin),
        "first_byte_ms": _ms(a.first_byte - origin) if a.first_byte is not None else None,
        "duration_ms": _ms(a.finished - a.started) if a.finished is not None else None,
    }


def latency(ctx: RequestContext, ended: float) -> dict[str, float | None]:
    """Gateway time before the first upstream call, the answering attempt's time to first byte and total, and
    the whole request's time (to the end of the stream, for a stream)."""
    attempts = ctx.attempts
    if not attempts:
        return {
            "before_upstream": None,
            "upstream_ttft": None,
            "upstream_total": None,
            "total": _ms(ended - ctx.started),
        }
    last = attempts[-1]
    return {
        "before_upstream": _ms(attempts[0].started - ctx.started),
        "upstream_ttft": _ms(last.first_byte - last.started) if last.first_byte is not None else None,
        "upstream_total": _ms((last.finished or ended) - last.started),
        "total": _ms(ended - ctx.started),
    }


def admin_record(
    *,
    actor_kind: str,
    actor_id: str,
    action: str,
    object_kind: str,
    object_id: str,
    team_id: str | None,
    before: Any,
    after: Any,
    request_id: str | None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The record of one admin change (``before``/``after`` already stripped of secrets)."""
    return {
        "v": VERSION,
        "id": new_audit_id(),
        "kind": "admin",
        "at": at or datetime.now(UTC),
        "request_id": request_id,
        "actor": {"kind": actor_kind, "id": actor_id},
        "action": action,
        "object": {"kind": object_kind, "id": object_id},
        "team_id": team_id,
        "before": before,
        "after": after,
    }


def encode(record: dict[str, Any]) -> bytes:
    """The canonical bytes of a record (what is hashed and stored)."""
    return orjson.dumps(record, option=_DUMP, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def index_of(record: dict[str, Any]) -> dict[str, Any]:
    """The ``audit_log`` columns that index a record (they must agree with it; ``verify`` checks)."""
    if record.get("kind") == "admin":
        actor = record.get("actor") or {}
        person = actor.get("kind") in ("session", "jwt")
        return {
            "team_id": record.get("team_id"),
            "key_id": None if person else actor.get("id"),
            "user_id": actor.get("id") if person else None,
            "model": None,
            "status": None,
            "flags": None,
        }
    principal = record.get("principal") or {}
    flags = record.get("flags") or []
    return {
        "team_id": principal.get("team_id"),
        "key_id": principal.get("key_id"),
        "user_id": principal.get("user_id"),
        "model": (record.get("model") or None) and str(record["model"])[:200],
        "status": record.get("status"),
        "flags": ",".join(flags)[:200] or None,
    }
