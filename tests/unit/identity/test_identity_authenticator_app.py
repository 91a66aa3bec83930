"""The wiring in a real ``Gateway`` (in process): ``auth.jwt`` in the config makes JWT bearer tokens work on the
proxy and the admin API; ``redis_url`` (config) or ``WARDGATE_REDIS_URL`` (settings, which wins) starts the
notifier; admin writes reach the cache through ``identity_changed``; shutdown stops the background tasks. Also the
config and settings parsing for these options."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from test_identity_cache_request_path import CHAT, CONFIG, MASTER_KEY, call

from wardgate.app import Gateway
from wardgate.config.schema import GatewayConfig
from wardgate.identity.jwt import JwtSettings
from wardgate.settings import Settings
from wardgate.testing.fake_oidc import FakeOidc

REDIS_URL = os.environ.get("WARDGATE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def idp() -> AsyncIterator[FakeOidc]:
    async with FakeOidc() as fake:
        yield fake


async def started(tmp_path: Path, config: dict[str, Any], **settings: Any) -> Gateway:
    path = tmp_path / "wardgate.yaml"
    path.write_text(yaml.safe_dump(config))
    database_url = f"sqlite:///{tmp_path / 'wardgate.db'}"
    app = Gateway(
        Settings(config_path=path, data_dir=tmp_path, master_key=MASTER_KEY, database_url=database_url, **settings)
    )
    await app.startup()
    return app


async def test_jwt_bearer_tokens_on_the_proxy_and_the_admin_api(tmp_path: Path, idp: FakeOidc) -> None:
    jwt = {"issuer": idp.url, "audience": idp.client_id, "role_map": {"gw-admins": "org_admin"}}
    app = await started(tmp_path, {**CONFIG, "auth": {"jwt": {**jwt, "jwks_min_refresh_seconds": 0.2}}})
    try:
        assert app.state is not None and app.state.notifier is None  # no Redis configured
        token = idp.issue_token({"sub": "alice", "roles": ["gw-admins"]})
        assert (await call(app, "POST", "/v1/chat/completions", token, CHAT)).status == 200
        me = await call(app, "GET", "/admin/v1/me", token)
        assert me.status == 200 and me.json()["kind"] == "jwt" and me.json()["org_role"] == "org_admin"
        expired = idp.issue_token(expires_in=-600)
        refused = await call(app, "POST", "/v1/chat/completions", expired, CHAT)
        assert refused.status == 401 and "expired" in refused.json()["error"]["message"]
        wrong_audience = idp.issue_token({"sub": "alice", "roles": ["gw-admins"]}, audience="another-app")
        refused = await call(app, "POST", "/v1/chat/completions", wrong_audience, CHAT)
        assert refused.status == 401 and "audience" in refused.json()["error"]["message"]
        idp.rotate_keys()  # the IdP signs with a new key: the gateway fetches the JWKS again for the unknown kid
        rotated = idp.issue_token({"sub": "alice", "roles": ["gw-admins"]})
        await asyncio.sleep(0.3)  # the test config allows one JWKS fetch per 0.2 s (default 5 s)
        assert (await call(app, "POST", "/v1/chat/completions", rotated, CHAT)).status == 200
    finally:
        await app.shutdown()


async def test_without_auth_jwt_tokens_are_refused(tmp_path: Path, idp: FakeOidc) -> None:
    app = await started(tmp_path, CONFIG)
    try:
        answer = await call(app, "POST", "/v1/chat/completions", idp.issue_token(), CHAT)
        assert answer.status == 401 and answer.json()["error"]["code"] == "invalid_api_key"
    finally:
        await app.shutdown()


@pytest.mark.parametrize("where", ["config", "settings"])
async def test_redis_starts_the_notifier(tmp_path: Path, where: str) -> None:
    config = {**CONFIG, "redis_url": REDIS_URL if where == "config" else "redis://127.0.0.1:1/0"}
    settings = {"redis_url": REDIS_URL} if where == "settings" else {}
    app = await started(tmp_path, config, **settings)
    state = app.state
    assert state is not None and state.notifier is not None and state.identity is not None
    try:
        assert state.notifier.subscribed  # listening before the gateway reports ready
        assert state.identity.polling
        await state.identity_changed()
        assert state.notifier.published == 1
    finally:
        await app.shutdown()
    assert not state.identity.polling and not state.notifier.subscribed


# --- config and settings -----------------------------------------------------------------------------------------


def test_auth_jwt_config_becomes_verifier_settings() -> None:
    config = GatewayConfig.model_validate(
        {"auth": {"jwt": {"issuer": "https://idp.example", "audience": ["a", "b"], "teams_claim": "realm.groups"}}}
    )
    assert config.auth.jwt is not None
    settings = JwtSettings(**config.auth.jwt.settings_fields())
    assert settings.audience == ("a", "b") and settings.teams_claim == "realm.groups"
    assert settings.algorithms == ("RS256", "ES256")


@pytest.mark.parametrize(
    ("jwt", "problem"),
    [
        ({"issuer": "https://idp.example", "audience": "x", "algorithms": ["HS256"]}, "asymmetric"),
        ({"issuer": "http://idp.example", "audience": "x"}, "https"),
        ({"issuer": "https://idp.example", "audience": "x", "role_map": {"a": "root"}}, "not a role"),
        ({"issuer": "https://idp.example", "audience": "x", "clock_skew_seconds": 3600}, "clock_skew"),
        ({"issuer": "https://idp.example"}, "audience"),
        ({"issuer": "https://idp.example", "audience": "x", "surprise": 1}, "surprise"),
    ],
)
def test_bad_auth_jwt_config_is_refused_at_load(jwt: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        GatewayConfig.model_validate({"auth": {"jwt": jwt}})


def test_settings_from_the_environment() -> None:
    env = {"WARDGATE_REDIS_URL": "redis://:secret@cache:6379/2", "WARDGATE_IDENTITY_POLL_SECONDS": "0.5"}
    settings = Settings.from_env(env)
    assert settings.redis_url == "redis://:secret@cache:6379/2" and settings.identity_poll_interval == 0.5
    assert "secret" not in repr(settings)
    assert Settings.from_env(settings.to_env()).redis_url == settings.redis_url
    assert Settings.from_env(settings.to_env()).identity_poll_interval == 0.5
    assert Settings.from_env({}).identity_poll_interval == 1.0 and Settings.from_env({}).redis_url is None
    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(ValueError, match="seconds"):
            Settings.from_env({"WARDGATE_IDENTITY_POLL_SECONDS": bad})
