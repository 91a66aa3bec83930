"""OpenAI-style rate-limit headers (https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers):
``x-ratelimit-limit-requests``, ``-remaining-requests``, ``-reset-requests`` and the same for tokens, describing
the most constrained request limit and token limit that applied (lowest share left). Reset times are durations as
OpenAI writes them: ``20ms``, ``1.5s``, ``6m0s``, ``1h2m3s``."""

from __future__ import annotations

import math
from collections.abc import Sequence

from wardgate.limits.buckets import Demand
from wardgate.limits.resolve import Meter

Header = tuple[bytes, bytes]


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        text = f"{seconds:.3f}".rstrip("0").rstrip(".")
        return f"{text}s"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s"


def rate_limit_headers(
    taken: Sequence[tuple[Demand, Meter]], remaining: Sequence[float], reset: Sequence[float]
) -> list[Header]:
    out: list[Header] = []
    for unit in ("requests", "tokens"):
        best: int | None = None
        best_share = math.inf
        for index, (demand, meter) in enumerate(taken):
            if meter.unit != unit or index >= len(remaining):
                continue
            share = remaining[index] / demand.capacity
            if share < best_share:
                best, best_share = index, share
        if best is None:
            continue
        demand = taken[best][0]
        out += [
            (f"x-ratelimit-limit-{unit}".encode(), str(int(demand.capacity)).encode()),
            (f"x-ratelimit-remaining-{unit}".encode(), str(max(0, int(remaining[best]))).encode()),
            (f"x-ratelimit-reset-{unit}".encode(), duration(reset[best]).encode()),
        ]
    return out
