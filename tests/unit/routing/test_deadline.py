"""The overall deadline: from config, shortened (never lengthened) by ``x-wardgate-timeout``, shrinking with time."""

from __future__ import annotations

import time

import pytest

from wardgate.core.errors import InvalidRequestError
from wardgate.routing.deadline import NO_DEADLINE, Deadline, exceeded, key_policy


def test_no_config_and_no_header_means_no_deadline() -> None:
    deadline = Deadline.start(None, {}, time.perf_counter())
    assert deadline is NO_DEADLINE and deadline.remaining() is None and deadline.allows(1e9)


@pytest.mark.parametrize(
    ("configured", "header", "expected"),
    [(10.0, None, 10.0), (None, "2.5", 2.5), (10.0, "2", 2.0), (2.0, "10", 2.0)],  # the header never lengthens it
)
def test_the_header_can_only_shorten_the_configured_deadline(
    configured: float | None, header: str | None, expected: float
) -> None:
    started = 100.0
    deadline = Deadline.start(configured, {"x-wardgate-timeout": header} if header else {}, started)
    assert deadline.remaining(now=started) == expected


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", ""])
def test_an_invalid_header_is_a_400(value: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        Deadline.start(None, {"x-wardgate-timeout": value}, 0.0)
    assert info.value.param == "x-wardgate-timeout"


def test_the_deadline_shrinks_and_counts_from_the_request_start() -> None:
    started = time.perf_counter() - 0.5  # the request arrived half a second ago
    deadline = Deadline.start(2.0, {}, started)
    left = deadline.remaining()
    assert left is not None and 1.4 < left <= 1.5
    assert deadline.allows(1.0) and not deadline.allows(1.6)
    assert not deadline.expired and Deadline.start(0.1, {}, started).expired


def test_exceeded_is_a_504_with_its_own_code() -> None:
    error = exceeded()
    assert error.http_status == 504 and error.code == "deadline_exceeded"


@pytest.mark.parametrize(
    ("configured", "policy", "header", "expected"),
    [
        (None, 5.0, None, 5.0),
        (10.0, 5.0, None, 5.0),
        (5.0, 10.0, None, 5.0),
        (10.0, 5.0, "2", 2.0),
        (None, 5.0, "9", 5.0),
    ],
)
def test_a_key_policy_shortens_the_deadline_and_the_header_only_shortens_further(
    configured: float | None, policy: float | None, header: str | None, expected: float
) -> None:
    headers = {"x-wardgate-timeout": header} if header else {}
    assert Deadline.start(configured, headers, 0.0, policy).remaining(now=0.0) == expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"deadline_seconds": 3}, 3.0),
        ({"deadline_seconds": 0}, None),
        ({"deadline_seconds": "3"}, None),
        ({}, None),
        ({"deadline_seconds": True}, None),
    ],
)
def test_the_key_policy_is_read_from_key_metadata(metadata: dict[str, object], expected: float | None) -> None:
    assert key_policy(metadata) == expected
