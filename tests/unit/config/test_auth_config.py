"""The ``auth.oidc`` config section: strict, loaded through the YAML loader with ``${ENV}`` secrets, the OIDC
client's own checks applied at load time, ``cookie_secure: false`` only for a loopback http redirect URI, and the
client secret never shown."""

from __future__ import annotations

import textwrap

import pydantic
import pytest

from wardgate.config import ConfigError, load_config_text
from wardgate.config.auth_config import OidcConfig
from wardgate.identity.oidc import OidcSettings

SECRET = "s3cr3t-client-value"
BASE = {
    "issuer": "https://idp.example.com",
    "client_id": "wardgate",
    "redirect_uri": "https://gw.example.com/auth/callback",
}


def test_a_yaml_section_loads_with_the_secret_from_the_environment() -> None:
    text = textwrap.dedent(
        """
        auth:
          oidc:
            issuer: https://idp.example.com/realms/acme
            client_id: wardgate
            client_secret: ${OIDC_SECRET}
            redirect_uri: https://gw.example.com/auth/callback
            teams_claim: realm_access.groups
            role_map: {gw-admins: org_admin, leads: team_admin}
            session_ttl_hours: 8
            sync_memberships: false
        """
    )
    config = load_config_text(text, env={"OIDC_SECRET": SECRET}).config.auth.oidc
    assert config is not None
    assert config.session_ttl_seconds == 8 * 3600 and config.cookie_secure and not config.sync_memberships
    assert config.public_origin == "https://gw.example.com"
    assert SECRET not in repr(config) and SECRET not in str(config.model_dump())
    settings = OidcSettings(**config.settings_fields())
    assert settings.client_secret == SECRET and settings.teams_claim == "realm_access.groups"
    assert settings.role_map == {"gw-admins": "org_admin", "leads": "team_admin"}
    assert settings.scopes == ("openid", "email", "profile")


def test_defaults() -> None:
    config = OidcConfig.model_validate(BASE)
    assert (config.session_ttl_hours, config.cookie_secure, config.sync_memberships) == (12, True, True)
    assert config.client_secret is None and config.token_auth_method == "client_secret_basic"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cookie_secure": False}, "cookie_secure: false is only allowed"),
        ({"cookie_secure": False, "redirect_uri": "https://127.0.0.1:4000/auth/callback"}, "cookie_secure"),
        ({"redirect_uri": "https://gw.example.com/callback"}, "/auth/callback"),
        ({"redirect_uri": "https://gw.example.com/auth/callback?x=1"}, "query"),
        ({"redirect_uri": "http://gw.example.com/auth/callback"}, "https"),
        ({"issuer": "http://idp.example.com"}, "https"),
        ({"scopes": ["email"]}, "openid"),
        ({"role_map": {"x": "superuser"}}, "not a role"),
        ({"algorithms": ["HS256"]}, "asymmetric"),
        ({"session_ttl_hours": 0}, "greater than 0"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_invalid_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        OidcConfig.model_validate({**BASE, "client_secret": SECRET, **changes})


def test_insecure_cookies_are_allowed_for_loopback_development() -> None:
    config = OidcConfig.model_validate(
        {**BASE, "redirect_uri": "http://127.0.0.1:4000/auth/callback", "cookie_secure": False}
    )
    assert config.public_origin == "http://127.0.0.1:4000"


def test_a_problem_is_reported_with_its_line_and_without_the_secret() -> None:
    text = "auth:\n  oidc:\n    issuer: https://idp.example.com\n    client_id: wardgate\n"
    text += f"    client_secret: {SECRET}\n    redirect_uri: https://gw.example.com/wrong\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, env={})
    assert "auth.oidc" in str(caught.value) and SECRET not in str(caught.value)


def test_a_validation_error_never_echoes_the_input() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        OidcConfig.model_validate({**BASE, "client_secret": "tiny", "redirect_uri": "https://g/x"})
    assert "tiny" not in str(caught.value)
