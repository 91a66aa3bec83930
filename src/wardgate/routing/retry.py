"""Retry decisions: which failures another attempt may fix, what the provider asked us to wait (``Retry-After``,
``retry-after-ms``), full-jitter backoff, and the retry budget that keeps retries from multiplying an outage.

Classification follows the error tree (``GatewayError.retryable``): 429 rate limits, 408 and other timeouts, 5xx,
Anthropic's 529, connection failures and unusable answers are retried; 400/401/403/404/413/422 and exhausted
quotas are not. A context-length refusal is not retried as it is: it moves to a larger-context model.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from wardgate.core.errors import GatewayError, UpstreamRejectedError

CONTEXT_LENGTH_CODE = "context_length_exceeded"
_CONTEXT_MESSAGE = re.compile(
    r"context[ _]length|context window|maximum context|prompt is too long|input is too long|too many (input )?tokens"
    r"|exceeds the maximum number of tokens|token count.{0,40}exceeds|reduce the length of the (messages|prompt)",
    re.IGNORECASE,
)
_QUOTA_CODES = frozenset({"insufficient_quota", "upstream_quota_exhausted"})
_CREDENTIAL_CODES = frozenset({"upstream_auth_failed"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one failed attempt means for the rest of the request and for the deployment."""

    retry: bool
    """Another attempt (another deployment, or this one later) may succeed."""
    same_deployment: bool
    """Retrying this very deployment may help (not for a refused credential: only another deployment can)."""
    fault: bool
    """The deployment failed (for its breaker): not the request's own fault."""
    context: bool
    """The prompt did not fit: only a larger context window helps."""
    wait: float | None
    """Seconds the provider asked for (``Retry-After``), when it said."""


def classify(error: GatewayError, now: float) -> Verdict:
    """``now`` is wall-clock time (for an HTTP-date ``Retry-After``)."""
    wait = retry_after_seconds(error.headers, now) if error.headers else None
    if is_context_length(error):
        return Verdict(retry=False, same_deployment=False, fault=False, context=True, wait=None)
    if error.retryable:
        same = error.code not in _CREDENTIAL_CODES
        return Verdict(retry=True, same_deployment=same, fault=True, context=False, wait=wait)
    return Verdict(retry=False, same_deployment=False, fault=deployment_fault(error), context=False, wait=wait)


def deployment_fault(error: GatewayError) -> bool:
    """Whether the deployment failed (for its breaker and stats), rather than the request."""
    return error.retryable or error.code in _QUOTA_CODES


def is_context_length(error: GatewayError) -> bool:
    """OpenAI says ``context_length_exceeded``; Anthropic, Gemini and Bedrock say it in a 400's message."""
    if error.code == CONTEXT_LENGTH_CODE:
        return True
    return (
        isinstance(error, UpstreamRejectedError)
        and error.http_status in (400, 413)
        and _CONTEXT_MESSAGE.search(error.message) is not None
    )


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """The wait a provider asked for: ``retry-after-ms`` (milliseconds, OpenAI and Anthropic), else
    ``retry-after`` in seconds or as an HTTP date (RFC 9110 §10.2.3). None when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        value = _number(millis)
        if value is not None:
            return value / 1000
    text = headers.get("retry-after")
    if text is None:
        return None
    value = _number(text)
    if value is not None:
        return value
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def backoff(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter (uniform between 0 and ``min(cap, base * 2 ** (retry - 1))``) for the ``retry``-th retry of a
    deployment: spreads retries out so failed requests do not come back in lockstep."""
    ceiling = min(cap, base * (2 ** min(retry - 1, 30)))
    return rng.uniform(0.0, ceiling)


class RetryBudget:
    """Retries in flight stay at most ``max(minimum, ratio * requests in flight)`` (Envoy's retry budget): when
    every request fails, at most about a fifth of them retry instead of all of them, twice. Per process, memory
    only; the router counts requests (``enter``/``leave``) and retries (``try_retry``/``done_retry``)."""

    __slots__ = ("denied", "minimum", "ratio", "requests", "retries")

    def __init__(self, ratio: float = 0.2, minimum: int = 3) -> None:
        self.ratio = ratio
        self.minimum = minimum
        self.requests = 0
        self.retries = 0
        self.denied = 0

    def configure(self, ratio: float, minimum: int) -> None:
        self.ratio, self.minimum = ratio, minimum

    def enter(self) -> None:
        self.requests += 1

    def leave(self) -> None:
        self.requests -= 1

    def try_retry(self) -> bool:
        """Take a retry slot if the budget allows one now."""
        if self.retries + 1 > max(self.minimum, self.ratio * self.requests):
            self.denied += 1
            return False
        self.retries += 1
        return True

    def done_retry(self) -> None:
        self.retries -= 1
