"""What JWT bearer tokens and OIDC sign-in share: the claim mapping (which claims name the user, the e-mail, the teams
and the roles; how identity-provider role/group values become wardgate roles), the pure step from a verified token to
a ``Principal``, and careful HTTP access to the identity provider (discovery, bounded JSON documents without
redirects, https unless the host is loopback or plain http is allowed).

Two rules keep the mapping safe:

- **Roles come only through ``role_map``.** A token value "org_admin" grants nothing unless the operator mapped it,
  so whoever can edit claims at the IdP cannot mint gateway roles the operator did not choose.
- **Unknown roles and teams are ignored, never an error.** IdPs send many groups that mean nothing to the gateway;
  a token must not fail because its user joined an unrelated group. Team names that are not configured teams are
  dropped, role values missing from ``role_map`` are dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from wardgate.core.errors import AuthenticationError
from wardgate.core.types import ORG_ROLES, TEAM_ROLES, Principal, Role

MAX_DOCUMENT = 1024 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_RANK = {role: rank for rank, role in enumerate(Role)}  # Role lists the most powerful first
_ROLE_VALUES = frozenset(role.value for role in Role)
_TEAM_DEFAULTS = {role.value: role for role in TEAM_ROLES}
_LAST_ORG_RANK = max(_RANK[role] for role in ORG_ROLES)
assert min(_RANK[role] for role in TEAM_ROLES) > _LAST_ORG_RANK, "org roles must rank above team roles"
SAFE_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "auth_time",
        "azp",
        "acr",
        "amr",
        "email",
        "email_verified",
        "name",
        "preferred_username",
        "given_name",
        "family_name",
    }
)
"""Claims kept on a ``VerifiedToken`` (besides the mapped ones): identifying, never secret (no nonce, no hashes)."""


@dataclass(frozen=True, kw_only=True)
class ClaimMapping:
    """Where the identity lives in a token. Claim names may be dotted paths into nested objects
    (``realm_access.roles`` for Keycloak)."""

    user_claim: str = "sub"
    email_claim: str = "email"
    teams_claim: str = "groups"
    """A list of team names, or a single name. A top-level Keycloak group path ("/platform") matches "platform"."""
    roles_claim: str = "roles"
    role_map: Mapping[str, str] = field(default_factory=dict)
    """IdP role or group value → wardgate role (org_admin, auditor, team_admin, member, viewer). Values of both the
    roles claim and the teams claim are looked up."""
    team_role_default: str = "member"
    """The role in each of the token's teams when no mapped value names a team role."""
    resolved: Mapping[str, tuple[int, Role]] = field(init=False, repr=False, compare=False)
    """``role_map`` resolved once to (rank, role), most powerful = lowest rank: enum lookups and hashes cost about
    a microsecond each, too much for every request."""

    def __post_init__(self) -> None:
        for name in ("user_claim", "email_claim", "teams_claim", "roles_claim"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        for source, target in self.role_map.items():
            if target not in _ROLE_VALUES:
                raise ValueError(f"role_map maps {source!r} to {target!r}, which is not a role")
        if self.team_role_default not in TEAM_ROLES:
            raise ValueError("team_role_default must be one of: team_admin, member, viewer")
        object.__setattr__(self, "role_map", MappingProxyType(dict(self.role_map)))
        resolved = {key: (_RANK[Role(value)], Role(value)) for key, value in self.role_map.items()}
        object.__setattr__(self, "resolved", MappingProxyType(resolved))


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """The identity a signature-checked token carries. ``claims`` is a subset without secrets (no nonce, no
    ``at_hash``, no custom claims beyond the mapped ones): safe to log or store."""

    subject: str
    issuer: str
    email: str | None
    teams: tuple[str, ...]
    roles: tuple[str, ...]
    expires_at: float
    """Unix time (the ``exp`` claim)."""
    claims: Mapping[str, Any]


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """``claims[name]``, or the value at a dotted path (``realm_access.roles``) when no top-level claim has it."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> tuple[str, ...]:
    """A claim holding one string or a list of them; anything else counts as absent."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(item for item in value if isinstance(item, str) and item)
    return ()


def identity_from_claims(claims: Mapping[str, Any], mapping: ClaimMapping) -> VerifiedToken:
    """The identity in already verified ``claims``; a token that names no user is refused."""
    subject = claim_value(claims, mapping.user_claim)
    if not isinstance(subject, str | int) or isinstance(subject, bool) or subject == "":
        raise AuthenticationError("The token does not name a user.")
    email = claim_value(claims, mapping.email_claim)
    keep = SAFE_CLAIMS | {mapping.user_claim, mapping.email_claim, mapping.teams_claim, mapping.roles_claim}
    exp = claims.get("exp")
    return VerifiedToken(
        subject=str(subject),
        issuer=str(claims.get("iss", "")),
        email=email if isinstance(email, str) and email else None,
        teams=_strings(claim_value(claims, mapping.teams_claim)),
        roles=_strings(claim_value(claims, mapping.roles_claim)),
        expires_at=float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else 0.0,
        claims=MappingProxyType({name: value for name, value in claims.items() if name in keep}),
    )


def _mapped_roles(token: VerifiedToken, settings: ClaimMapping) -> tuple[Role | None, Role]:
    """The most powerful mapped org role, and the most powerful mapped team role (else the default)."""
    org: tuple[int, Role] | None = None
    team: tuple[int, Role] | None = None
    resolved = settings.resolved
    for value in (*token.roles, *token.teams):
        entry = resolved.get(value)
        if entry is None:
            continue
        if entry[0] <= _LAST_ORG_RANK:
            org = entry if org is None or entry[0] < org[0] else org
        elif team is None or entry[0] < team[0]:
            team = entry
    return (org[1] if org else None), (team[1] if team else _TEAM_DEFAULTS[settings.team_role_default])


def _team_id(name: str, team_ids: Mapping[str, str]) -> str | None:
    found = team_ids.get(name)
    if found is None and name.startswith("/") and "/" not in name[1:]:  # Keycloak's full path of a top-level group
        found = team_ids.get(name[1:])
    return found


def map_claims(
    token: VerifiedToken,
    settings: ClaimMapping,
    team_ids: Mapping[str, str],
    *,
    user_id: str | None = None,
    kind: str = "jwt",
) -> Principal:
    """The ``Principal`` for a verified token. ``team_ids`` maps configured team names to team ids.

    The org role is the most powerful mapped org role (org_admin over auditor). Every team the token names that
    exists in ``team_ids`` gets the most powerful mapped team role in the token, else ``team_role_default``.
    Unknown teams and unmapped role values are ignored (see the module docstring).
    """
    org_role, team_role = _mapped_roles(token, settings)
    teams: dict[str, Role] = {}
    for name in token.teams:
        team_id = _team_id(name, team_ids)
        if team_id is not None:
            teams[team_id] = team_role
    metadata: dict[str, Any] = {"subject": token.subject, "issuer": token.issuer}
    if token.email is not None:
        metadata["email"] = token.email
    return Principal(
        key_id=f"user:{token.subject}",
        kind=kind,
        org_role=org_role,
        teams=MappingProxyType(teams),
        user_id=user_id,
        metadata=MappingProxyType(metadata),
    )


# ----------------------------------------------------------- the identity provider over HTTP (JWT and OIDC share it)


class IdentityProviderError(Exception):
    """The identity provider could not be asked (unreachable, bad answer). Logged; never shown to clients as is."""


def insecure_url_reason(url: str, what: str, allow_insecure_http: bool) -> str | None:
    """Why ``url`` may not be used to fetch keys or tokens, or None. Plain http is for loopback hosts only, unless
    the operator allows it: a network attacker could otherwise swap the signing keys."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{what} must be an absolute http(s) URL"
    if parts.scheme == "http" and not allow_insecure_http and parts.hostname not in _LOOPBACK:
        return f"{what} must use https (allow_insecure_http permits plain http on a trusted network)"
    return None


def new_session() -> aiohttp.ClientSession:
    """A session for identity-provider calls when the caller shares none: no cookies kept, timeouts per call."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), timeout=aiohttp.ClientTimeout(total=None))


async def read_bounded(response: aiohttp.ClientResponse, limit: int = MAX_DOCUMENT) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise IdentityProviderError("the answer exceeds the size limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch_json(session: aiohttp.ClientSession, url: str, time_limit: float, what: str) -> dict[str, Any]:
    """GET a JSON object (no redirects: keys must come from where they were configured)."""
    try:
        async with (
            asyncio.timeout(time_limit),
            session.get(url, allow_redirects=False, headers={"Accept": "application/json"}) as response,
        ):
            if response.status != 200:
                raise IdentityProviderError(f"{what} answered HTTP {response.status}")
            body = await read_bounded(response)
    except TimeoutError:
        raise IdentityProviderError(f"{what} did not answer in time") from None
    except (aiohttp.ClientError, OSError):
        raise IdentityProviderError(f"{what} is unreachable") from None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise IdentityProviderError(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise IdentityProviderError(f"{what} is not a JSON object")
    return document


async def discover(session: aiohttp.ClientSession, issuer: str, time_limit: float) -> dict[str, Any]:
    """The issuer's OIDC discovery document; its ``issuer`` must be exactly the configured one (OIDC Discovery §4.3)."""
    document = await fetch_json(session, issuer.rstrip("/") + DISCOVERY_PATH, time_limit, "the OIDC discovery document")
    if document.get("issuer") != issuer:
        raise IdentityProviderError("the OIDC discovery document names another issuer")
    return document
