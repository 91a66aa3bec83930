"""Credentials in a running gateway (in-process, SQLite and PostgreSQL): references resolved at startup, a
rotation through the admin API taking effect without a restart on this replica at once and on another within 2 s
(requests in flight keep their snapshot), a config waiting for a credential applied once it is stored, and
credentials that are missing or cannot be opened reported by name, never by secret."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from credentials_harness import (  # noqa: F401  (fixtures)
    KEY_ONE,
    KEY_TWO,
    Gate,
    assert_no_secret,
    config,
    fake_fixture,
    seed,
    start_fixture,
    vault_env_fixture,
)

from wardgate.config.loader import ConfigError
from wardgate.testing import FakeOpenAI
from wardgate.vault import generate_key


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')} {r.exc_text or ''}" for r in caplog.records)


async def eventually_ok(gate: Gate, timeout: float) -> float:
    """Seconds until a chat through ``gate`` succeeds (fails the test after ``timeout``)."""
    began = time.monotonic()
    while True:
        reply = await gate.chat()
        if reply.status == 200:
            return time.monotonic() - began
        assert time.monotonic() - began < timeout, reply.body
        await asyncio.sleep(0.05)


async def test_rotation_reaches_every_replica_without_restart(
    start: Any, fake: FakeOpenAI, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wardgate")
    await seed(database_url, "openai", KEY_ONE)
    a: Gate = await start(config(fake.url))
    b: Gate = await start(config(fake.url))
    assert (await a.chat()).status == 200 and (await b.chat()).status == 200

    fake.api_key = KEY_TWO  # the provider rotated the key: the gateway's is now wrong
    for gate in (a, b):
        refused = await gate.chat()
        assert refused.status == 502 and refused.body["error"]["code"] == "upstream_auth_failed"

    in_flight = a.state.snapshot
    reloads = a.state.reloads
    rotated = await a.admin("PUT", "/credentials/openai", {"secret": KEY_TWO})
    assert rotated.status == 200 and rotated.body["version"] == 2
    assert (await a.chat()).status == 200  # this replica refreshed before answering
    assert a.state.snapshot is not in_flight and a.state.reloads == reloads + 1
    old_client = in_flight.clients["openai"]
    assert old_client._credential.secret == KEY_ONE  # type: ignore[attr-defined]  # in-flight requests keep theirs
    assert await eventually_ok(b, timeout=2.0) < 2.0  # the other replica polls

    assert (await a.chat("sim-chat")).status == 200
    everything = "\n".join(a.answers + b.answers) + log_text(caplog)
    assert "credentials changed; snapshot rebuilt" in everything
    assert_no_secret(everything, KEY_ONE, KEY_TWO)


async def test_unrelated_credential_changes_do_not_rebuild(start: Any, fake: FakeOpenAI, database_url: str) -> None:
    await seed(database_url, "openai", KEY_ONE)
    gate: Gate = await start(config(fake.url))
    snapshot = gate.state.snapshot
    assert (await gate.admin("POST", "/credentials", {"name": "other", "secret": KEY_TWO})).status == 201
    await asyncio.sleep(1.3)  # a poll has run too
    assert gate.state.snapshot is snapshot
    assert (await gate.chat()).status == 200


async def test_config_waiting_for_a_credential_applies_once_it_is_stored(
    start: Any, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    gate: Gate = await start(config(fake.url, api_key=None))
    gate.config_path.write_text(config(fake.url))
    deadline = time.monotonic() + 5
    while gate.state.last_reload_error is None:
        assert time.monotonic() < deadline, "the watcher did not see the new file"
        await asyncio.sleep(0.05)
    ready = (await gate.call("GET", "/readyz")).body
    assert "credential 'openai' does not exist" in ready["last_reload_error"]
    assert "wardgate secrets set openai" in ready["last_reload_error"]
    assert (await gate.chat()).status == 404  # the old config is still active

    assert (await gate.admin("POST", "/credentials", {"name": "openai", "secret": KEY_ONE})).status == 201
    assert (await gate.chat()).status == 200
    assert (await gate.call("GET", "/readyz")).body["last_reload_error"] is None
    assert_no_secret("\n".join(gate.answers) + log_text(caplog), KEY_ONE)


async def test_missing_reference_fails_startup_naming_the_credential(start: Any, fake: FakeOpenAI) -> None:
    with pytest.raises(ConfigError) as info:
        await start(config(fake.url))
    (problem,) = info.value.problems
    assert problem.path == "providers[1].api_key"
    assert "credential 'openai' does not exist" in problem.message


async def test_credentials_sealed_under_an_unknown_key(
    start: Any, fake: FakeOpenAI, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="wardgate")
    await seed(database_url, "openai", KEY_ONE, vault_key=generate_key())
    with pytest.raises(ConfigError) as info:  # referenced: the start fails and says why
        await start(config(fake.url))
    message = str(info.value)
    assert "credential 'openai' cannot be opened: unknown master key id" in message
    assert "WARDGATE_SECRET_KEY_PREVIOUS" in message

    gate: Gate = await start(config(fake.url, api_key=None))  # not referenced: logged, the gateway serves
    assert (await gate.chat("sim-chat")).status == 200
    logs = log_text(caplog)
    assert "a stored credential cannot be opened" in logs and "'name': 'openai'" in logs
    assert_no_secret(message + logs + "\n".join(gate.answers), KEY_ONE)
