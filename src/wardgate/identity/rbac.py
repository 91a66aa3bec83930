"""The RBAC policy: who may do what to which object. Pure functions over a :class:`Principal`; no I/O.

Model: one organisation → teams → projects. People hold an optional org role and team memberships; service
principals and virtual keys belong to one team; a key carries a team role (``member`` = proxy use only; a
``team_admin`` key can automate its team). The master key is an org admin. Callers authorize *before* they
reveal anything about an object: objects of a team the actor has no role in raise ``NotFoundError`` (404, they
must look nonexistent); visible objects the actor may not touch raise ``PermissionDeniedError`` (403).

Roles and rights::

    role            scope   rights
    org_admin       org     everything (the master key is one); the only role that manages credentials, users,
                            teams, org roles, and moves objects across teams
    auditor         org     read everything in the org (credentials' metadata, admin change records included);
                            write nothing; mints no keys. A team role held beside it still applies in that team
    team_admin (T)  team T  read T; manage T's projects, service principals, memberships (grant team roles up
                            to team_admin) and keys (any team role, within its own models and expiry), limits
                            and budgets of T's projects and keys included; rename T (never change T's own
                            limits or budgets); read T's admin change records. Nothing outside T, no
                            credentials, no teams/org roles
    member (T)      team T  read T (every key of T is listed with its settings: key records hold no secret, a
                            key's secret is shown once, at creation or rotation); create, update (name,
                            metadata, enabled), rotate and revoke its OWN keys, never with a role above member
    viewer (T)      team T  read T

Rights by object kind and action (``RIGHTS``; org admins pass every cell that is not ``.``, auditors every
``read``)::

    kind               read  create  update  delete  revoke  rotate  grant
    org                any   .       org     .       .       .       .
    team               view  org     admin   org     .       .       .
    project            view  admin   admin   admin   .       .       .
    user               self  org     org     org     .       .       org
    membership         view  admin   admin   admin   .       .       admin
    service_principal  view  admin   admin   admin   .       .       .
    key                view  own     own     admin   own     own     .
    credential         org   org     org     org     .       org     .
    admin_change       admin .       .       .       .       .       .

    any   every caller            view   any role in the object's team     admin  team_admin of the object's team
    org   org admin (auditor: read)   .  not an operation: ValueError (a bug in the caller)
    own   team_admin, or a member acting on a key whose ``user_id`` is its own (people only: a key caller owns
          no keys, so a leaked member key cannot mint fresh ones)       self  a person reading its own user record

Org-wide objects (org, users, credentials, org-wide admin changes) are passed with ``team_id=None``; a caller
without an org role gets 403 for them (they are not hidden per team).

Escalation guards (call them after ``authorize``, with the values the key / membership will have):

* ``check_key_grant`` — no caller mints (create, rotate, update) a key with more rights than it holds: the key's
  role ≤ the caller's role in that team (org admin: any team role; auditor: none); a model-restricted caller may
  only grant a subset of its models (an unrestricted key is refused); a calling key with an expiry may only mint
  keys that expire no later than itself (a key without expiry is refused). Naive datetimes are taken as UTC.
* ``check_role_grant`` — org roles are granted by org admins only; team roles by team admins of that team, up to
  the granter's own role.
* ``check_fields`` — for updates: immutable fields (id, created_at, key_hash, created_by and the gateway-kept
  updated_at, key_prefix, revoked_at, rotated_to: ``rbac_fields.IMMUTABLE_FIELDS``) are 400 for everyone;
  fields the role may not change (``rbac_fields.TEAM_FIELD_RIGHTS``) are refused with 403 naming them, never
  ignored. A team admin may change a key's name, allowed_models, enabled, expires_at, metadata, limits, budgets,
  project_id and role, but not team_id, user_id or service_principal_id; a member only name, metadata and enabled
  of its own keys. ``enabled`` is the owner's own switch: to stop a key against its owner's will, revoke it. A team
  admin may change a project's limits and budgets, but only the name and metadata of its own team: a team's
  limits and budgets are for org admins (a team admin must not raise its own team's ceiling).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime

from wardgate.core.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from wardgate.core.types import ORG_ROLES, TEAM_ROLES, Principal, Role
from wardgate.identity.rbac_fields import IMMUTABLE_FIELDS, TEAM_FIELD_RIGHTS


class Action(enum.StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REVOKE = "revoke"
    ROTATE = "rotate"
    GRANT = "grant"


class ObjectKind(enum.StrEnum):
    ORG = "org"
    TEAM = "team"
    PROJECT = "project"
    USER = "user"
    MEMBERSHIP = "membership"
    SERVICE_PRINCIPAL = "service_principal"
    KEY = "key"
    CREDENTIAL = "credential"
    ADMIN_CHANGE = "admin_change"


class Need(enum.StrEnum):
    """What a caller without an org role needs for one (kind, action); see the table above."""

    ANY = "any"
    VIEW = "view"
    OWN = "own"
    SELF = "self"
    ADMIN = "admin"
    ORG = "org"


TEAM_RANK: Mapping[Role, int] = {Role.VIEWER: 1, Role.MEMBER: 2, Role.TEAM_ADMIN: 3}
"""Team roles by power; a role may hand out roles of equal or lower rank."""

PEOPLE = frozenset({"session", "jwt"})
"""Principal kinds that are people, the only callers that can own keys."""

_K, _A, _N = ObjectKind, Action, Need
RIGHTS: Mapping[ObjectKind, Mapping[Action, Need]] = {
    _K.ORG: {_A.READ: _N.ANY, _A.UPDATE: _N.ORG},
    _K.TEAM: {_A.READ: _N.VIEW, _A.CREATE: _N.ORG, _A.UPDATE: _N.ADMIN, _A.DELETE: _N.ORG},
    _K.PROJECT: {_A.READ: _N.VIEW, _A.CREATE: _N.ADMIN, _A.UPDATE: _N.ADMIN, _A.DELETE: _N.ADMIN},
    _K.USER: {_A.READ: _N.SELF, _A.CREATE: _N.ORG, _A.UPDATE: _N.ORG, _A.DELETE: _N.ORG, _A.GRANT: _N.ORG},
    _K.MEMBERSHIP: {
        _A.READ: _N.VIEW,
        _A.CREATE: _N.ADMIN,
        _A.UPDATE: _N.ADMIN,
        _A.DELETE: _N.ADMIN,
        _A.GRANT: _N.ADMIN,
    },
    _K.SERVICE_PRINCIPAL: {_A.READ: _N.VIEW, _A.CREATE: _N.ADMIN, _A.UPDATE: _N.ADMIN, _A.DELETE: _N.ADMIN},
    _K.KEY: {
        _A.READ: _N.VIEW,
        _A.CREATE: _N.OWN,
        _A.UPDATE: _N.OWN,
        _A.DELETE: _N.ADMIN,
        _A.REVOKE: _N.OWN,
        _A.ROTATE: _N.OWN,
    },
    _K.CREDENTIAL: {
        _A.READ: _N.ORG,
        _A.CREATE: _N.ORG,
        _A.UPDATE: _N.ORG,
        _A.DELETE: _N.ORG,
        _A.ROTATE: _N.ORG,
    },
    _K.ADMIN_CHANGE: {_A.READ: _N.ADMIN},
}
"""Object kind → action → what a caller without an org role needs. A missing action is not an operation."""

_HINTS: Mapping[Need, str] = {
    Need.VIEW: "a role in the team",
    Need.OWN: "team_admin, or member for your own keys",
    Need.SELF: "an org role, unless it is your own record",
    Need.ADMIN: "team_admin",
    Need.ORG: "org_admin",
}


# --- roles -----------------------------------------------------------------------------------------------------


def effective_org_role(actor: Principal) -> Role | None:
    """The actor's org role: the master key is an org admin; anything outside ``ORG_ROLES`` counts as none."""
    if actor.kind == "master":
        return Role.ORG_ADMIN
    return actor.org_role if actor.org_role in ORG_ROLES else None


def team_role(actor: Principal, team_id: str | None) -> Role | None:
    """The actor's own role in one team (org roles not included); a non-team role there counts as none."""
    if team_id is None:
        return None
    role = actor.teams.get(team_id)
    return role if role in TEAM_ROLES else None


def visible_teams(actor: Principal) -> set[str] | None:
    """The teams whose objects the actor may list; ``None`` means every team (org admins and auditors)."""
    if effective_org_role(actor) is not None:
        return None
    return {team for team, role in actor.teams.items() if role in TEAM_ROLES}


def _rank(actor: Principal, team_id: str | None) -> int:
    """The actor's write power in a team: an org admin outranks every team role; an auditor has none."""
    if effective_org_role(actor) is Role.ORG_ADMIN:
        return TEAM_RANK[Role.TEAM_ADMIN] + 1
    role = team_role(actor, team_id)
    return TEAM_RANK[role] if role is not None else 0


def _owns(actor: Principal, owner_user_id: str | None) -> bool:
    """Whether the actor is the person that owns the object (key callers own nothing)."""
    return actor.kind in PEOPLE and actor.user_id is not None and actor.user_id == owner_user_id


def _describe(actor: Principal, team_id: str | None) -> str:
    role = team_role(actor, team_id) or effective_org_role(actor)
    return f"role '{role}'" if role is not None else "a caller without a role here"


# --- authorize -------------------------------------------------------------------------------------------------


def need_for(kind: ObjectKind, action: Action) -> Need:
    """What ``action`` on ``kind`` needs; ``ValueError`` when it is not an operation (a bug in the caller)."""
    need = RIGHTS[kind].get(action)
    if need is None:
        raise ValueError(f"'{action}' is not an operation on '{kind}'")
    return need


def check_visible(actor: Principal, kind: ObjectKind, team_id: str | None) -> None:
    """404 when the object belongs to a team the actor has no role in, so it looks nonexistent."""
    if team_id is None or effective_org_role(actor) is not None or team_role(actor, team_id) is not None:
        return
    raise NotFoundError(f"No such {kind.replace('_', ' ')}.")


def _meets(actor: Principal, need: Need, team_id: str | None, owner_user_id: str | None) -> bool:
    rank = _rank(actor, team_id)
    match need:
        case Need.ANY:
            return True
        case Need.VIEW:
            return rank >= TEAM_RANK[Role.VIEWER]
        case Need.OWN:
            admin = rank >= TEAM_RANK[Role.TEAM_ADMIN]
            return admin or (rank >= TEAM_RANK[Role.MEMBER] and _owns(actor, owner_user_id))
        case Need.SELF:
            return _owns(actor, owner_user_id)
        case Need.ADMIN:
            return rank >= TEAM_RANK[Role.TEAM_ADMIN]
        case _:
            return False


def authorize(
    actor: Principal,
    action: Action,
    kind: ObjectKind,
    *,
    team_id: str | None,
    owner_user_id: str | None = None,
) -> None:
    """Allow ``action`` on an object of ``kind`` in team ``team_id`` (``None``: org-wide, or a team being created)
    whose owner is ``owner_user_id`` (a key's ``user_id``; a user record's own id), or raise 404 / 403."""
    need = need_for(kind, action)
    org_role = effective_org_role(actor)
    if org_role is Role.ORG_ADMIN:
        return
    check_visible(actor, kind, team_id)
    if org_role is Role.AUDITOR and action is Action.READ:
        return
    if _meets(actor, need, team_id, owner_user_id):
        return
    noun = kind.replace("_", " ")
    raise PermissionDeniedError(
        f"{_describe(actor, team_id).capitalize()} may not {action} this {noun}: it needs {_HINTS[need]}."
    )


# --- escalation guards -----------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _actor_expiry(actor: Principal, explicit: datetime | None) -> datetime | None:
    """The calling key's own expiry: passed explicitly, or read from the principal once it carries one."""
    if explicit is not None:
        return explicit
    found = getattr(actor, "expires_at", None) if actor.kind == "key" else None
    return found if isinstance(found, datetime) else None


def check_key_grant(
    actor: Principal,
    *,
    team_id: str,
    role: Role,
    allowed_models: frozenset[str] | None,
    expires_at: datetime | None,
    actor_expires_at: datetime | None = None,
) -> None:
    """Refuse (403, naming what exceeded) a key that would hold more rights than its maker: see the module
    docstring. ``actor_expires_at`` is the calling key's own expiry (``None`` for people and the master key)."""
    if role not in TEAM_ROLES:
        raise InvalidRequestError(f"A key carries a team role ({', '.join(sorted(TEAM_ROLES))}).", param="role")
    check_visible(actor, ObjectKind.KEY, team_id)
    rank = _rank(actor, team_id)
    if rank < TEAM_RANK[Role.MEMBER]:
        raise PermissionDeniedError(f"{_describe(actor, team_id).capitalize()} may not mint keys in this team.")
    if TEAM_RANK[role] > rank:
        raise PermissionDeniedError(
            f"role: a '{role}' key exceeds your {_describe(actor, team_id)} in this team.", param="role"
        )
    if actor.allowed_models is not None:
        if allowed_models is None:
            raise PermissionDeniedError(
                "allowed_models: you may only call some models, so the key must list a subset of them.",
                param="allowed_models",
            )
        extra = sorted(allowed_models - actor.allowed_models)
        if extra:
            raise PermissionDeniedError(
                f"allowed_models: you may not call {', '.join(extra)}, so neither may the key.", param="allowed_models"
            )
    limit = _actor_expiry(actor, actor_expires_at)
    if limit is not None and (expires_at is None or _utc(expires_at) > _utc(limit)):
        raise PermissionDeniedError(
            f"expires_at: the key must expire no later than your own key ({_utc(limit).isoformat()}).",
            param="expires_at",
        )


def check_role_grant(actor: Principal, *, team_id: str | None, role: Role) -> None:
    """Org roles (``team_id=None``) only by org admins; team roles only by team admins of ``team_id``, up to
    their own role there. Also checks the right to grant, so it may stand in for ``authorize(GRANT, ...)``."""
    if role in ORG_ROLES:
        if team_id is not None:
            raise InvalidRequestError(f"'{role}' is an org role; it is not granted in a team.", param="role")
        if effective_org_role(actor) is not Role.ORG_ADMIN:
            raise PermissionDeniedError(f"role: only an org admin may grant '{role}'.", param="role")
        return
    if role not in TEAM_ROLES:
        raise InvalidRequestError(f"Unknown role '{role}'.", param="role")
    if team_id is None:
        raise InvalidRequestError(f"'{role}' is a team role; name the team.", param="team_id")
    authorize(actor, Action.GRANT, ObjectKind.MEMBERSHIP, team_id=team_id)
    if TEAM_RANK[role] > _rank(actor, team_id):
        raise PermissionDeniedError(
            f"role: '{role}' exceeds your {_describe(actor, team_id)} in this team.", param="role"
        )


def check_fields(
    actor: Principal,
    kind: ObjectKind,
    changed_fields: set[str] | frozenset[str],
    *,
    team_id: str | None,
    owner_user_id: str | None = None,
) -> None:
    """Check an update that changes ``changed_fields`` of an object: 404 if the object is hidden from the actor,
    400 (``param`` = the field) for an immutable field, then ``authorize(UPDATE)``, then 403 naming every field
    the actor's role may not change. Values (role, models, expiry) are the guards' business."""
    check_visible(actor, kind, team_id)
    immutable = sorted(changed_fields & IMMUTABLE_FIELDS)
    if immutable:
        raise InvalidRequestError(f"{', '.join(immutable)} cannot be changed.", param=immutable[0])
    authorize(actor, Action.UPDATE, kind, team_id=team_id, owner_user_id=owner_user_id)
    if effective_org_role(actor) is Role.ORG_ADMIN:
        return
    role = team_role(actor, team_id)
    allowed = TEAM_FIELD_RIGHTS.get(kind, {}).get(role, frozenset()) if role is not None else frozenset()
    forbidden = sorted(changed_fields - allowed)
    if forbidden:
        raise PermissionDeniedError(
            f"{_describe(actor, team_id).capitalize()} may not change {', '.join(forbidden)} of this "
            f"{kind.replace('_', ' ')}.",
            param=forbidden[0],
        )
