"""The ``auth.oidc`` section: sign-in for people with the company's OpenID Provider (authorization code + PKCE),
the session cookie that follows, and how the ID token's claims become the user's teams and roles.

```yaml
auth:
  oidc:
    issuer: https://login.example.com/realms/acme
    client_id: wardgate
    client_secret: ${OIDC_CLIENT_SECRET}       # omit for a public client (PKCE only)
    redirect_uri: https://gateway.example.com/auth/callback
    teams_claim: groups                        # IdP group names matched against the gateway's team names
    role_map: {gateway-admins: org_admin, platform-leads: team_admin}
    session_ttl_hours: 12
    sync_memberships: true
```

Changes need a restart. The shared checks (issuer and redirect URI schemes, algorithms, clock skew) are those of
``wardgate.identity.oidc.OidcSettings``, run at load time. Must not import ``config.schema`` (it imports this).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

CALLBACK_PATH = "/auth/callback"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class OidcConfig(BaseModel):
    """OIDC sign-in (off when absent). The gateway's routes: ``/auth/login``, ``/auth/callback``,
    ``/auth/logout``, ``/auth/session``."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)  # the secret is input

    issuer: str = Field(min_length=1, description="Exactly the issuer the provider's discovery document names.")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = Field(default=None, description="None: a public client (PKCE only).")
    redirect_uri: str = Field(description="This gateway's public URL of /auth/callback, as registered at the IdP.")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1)
    clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    login_ttl_seconds: int = Field(default=600, gt=0, le=3600, description="Time allowed to finish a sign-in.")
    http_timeout_seconds: float = Field(default=10.0, gt=0)
    allow_insecure_http: bool = Field(default=False, description="Plain http to a non-loopback IdP.")
    user_claim: str = Field(default="sub", description="The claim stored as the user's external id.")
    email_claim: str = "email"
    teams_claim: str = Field(default="groups", description="Team names (matched against the gateway's teams).")
    roles_claim: str = "roles"
    role_map: dict[str, str] = Field(
        default_factory=dict, description="IdP role or group value → org_admin, auditor, team_admin, member, viewer."
    )
    team_role_default: Literal["team_admin", "member", "viewer"] = "member"
    session_ttl_hours: float = Field(default=12, gt=0, le=24 * 30, description="A session's absolute lifetime.")
    cookie_secure: bool = Field(
        default=True, description="false only for development on http://127.0.0.1 (the redirect URI must be there)."
    )
    sync_memberships: bool = Field(
        default=True,
        description="Each sign-in sets the org role and the team roles the claims map (see docs/sso.md).",
    )

    @model_validator(mode="after")
    def _valid_settings(self) -> OidcConfig:
        from wardgate.identity.oidc import OidcSettings  # the client's own checks, run at load time

        OidcSettings(**self.settings_fields())
        parts = urlsplit(self.redirect_uri)
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("redirect_uri must not contain user info, a query or a fragment")
        if not parts.path.endswith(CALLBACK_PATH):
            raise ValueError(f"redirect_uri must be this gateway's {CALLBACK_PATH} URL")
        if not self.cookie_secure and (parts.scheme != "http" or parts.hostname not in _LOOPBACK):
            raise ValueError("cookie_secure: false is only allowed when redirect_uri is http on a loopback address")
        return self

    def settings_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``wardgate.identity.oidc.OidcSettings`` (the client secret in plain text)."""
        values = self.model_dump(exclude={"session_ttl_hours", "cookie_secure", "sync_memberships", "client_secret"})
        values["client_secret"] = self.client_secret.get_secret_value() if self.client_secret is not None else None
        for name in ("scopes", "algorithms"):
            values[name] = tuple(values[name])
        return values

    @property
    def public_origin(self) -> str:
        """The gateway's origin as the browser sees it (scheme://host[:port] of the redirect URI)."""
        parts = urlsplit(self.redirect_uri)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def session_ttl_seconds(self) -> int:
        return int(self.session_ttl_hours * 3600)
