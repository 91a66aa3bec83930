"""Virtual key routes: create (the secret is shown once), list, read, update, revoke and rotate.

Every decision goes through ``identity.rbac``: ``authorize`` for the action (a key of a team the caller has no role
in answers 404), ``check_key_grant`` for what a created, rotated or re-scoped key may do (never more than its
maker), ``check_fields`` for what an update may touch (forbidden fields are refused, not ignored). A key made by a
person belongs to that person (``user_id``) unless the body names someone else, which takes a team admin.
``DELETE /keys/{id}`` revokes (key rows are kept for the audit trail), so it needs the right to revoke.
Allowed models are the names clients send (aliases too); each must name a configured model. ``limits`` (a
``LimitSet``) and ``budgets`` follow ``limit_fields``: team admins change them, a member only sets them on a key it
creates (limits only ever narrow what the team allows).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import Field, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.api.admin.common import Metadata, Name, StrictModel, changed_fields
from wardgate.api.admin.deps import Admin, AdminDep, PageDep, listing
from wardgate.api.admin.limit_fields import Budgets, Limits, stored_budgets, stored_limits, with_stored_limits
from wardgate.config.limits_config import LimitSet
from wardgate.core.errors import InvalidRequestError, ModelNotFoundError, NotFoundError
from wardgate.core.types import Principal, Role
from wardgate.identity import rbac
from wardgate.storage import keys
from wardgate.storage.changes import Change, actor_fields

router = APIRouter(tags=["keys"])

KEY = rbac.ObjectKind.KEY
MAX_GRACE = 30 * 86_400
MAX_LIFETIME = 10 * 366 * 86_400
RIGHTS_FIELDS = frozenset({"role", "allowed_models", "expires_at", "team_id"})
"""Updates that change what a key may do: checked like minting a new key."""
REF_FIELDS = frozenset({"team_id", "project_id", "user_id", "service_principal_id"})
_MISSING = {
    "project_id": "no such project in the key's team.",
    "user_id": "no such user.",
    "service_principal_id": "no such service principal in the key's team.",
}
NOT_NULL = frozenset({"name", "enabled", "role", "limits", "metadata", "team_id"})
"""``budgets`` too may not be null, but ``limit_fields`` refuses that (None there stands for a ``{}`` sent)."""

ModelName = Annotated[str, Field(min_length=1, max_length=200)]
Models = Annotated[
    list[ModelName],
    Field(min_length=1, max_length=1000, description="Model names (aliases too) the key may call; omit for all."),
]
Ref = Annotated[str, Field(min_length=1, max_length=64)]


class KeyCreate(StrictModel):
    team: Annotated[str, Field(min_length=1, max_length=200, description="The team's id or name.")]
    name: Name | None = None
    project_id: Ref | None = None
    user_id: Ref | None = Field(default=None, description="Owner; default: the calling person. null: nobody.")
    service_principal_id: Ref | None = None
    role: Role = Role.MEMBER
    allowed_models: Models | None = None
    expires_at: datetime | None = None
    expires_in: Annotated[int | None, Field(ge=1, le=MAX_LIFETIME, description="Seconds from now.")] = None
    limits: Limits = Field(default_factory=LimitSet)
    budgets: Budgets = None
    metadata: Metadata = Field(default_factory=dict)


class KeyUpdate(StrictModel):
    """Only the fields sent change; ``null`` clears allowed_models (every model), expires_at and the references."""

    name: Name | None = None
    allowed_models: Models | None = None
    enabled: bool | None = None
    expires_at: datetime | None = None
    expires_in: Annotated[int | None, Field(ge=1, le=MAX_LIFETIME, description="Sets expires_at.")] = None
    limits: Limits | None = None
    budgets: Budgets = None
    metadata: Metadata | None = None
    project_id: Ref | None = None
    role: Role | None = None
    team_id: Ref | None = None
    user_id: Ref | None = None
    service_principal_id: Ref | None = None

    @model_validator(mode="after")
    def _no_nulls(self) -> KeyUpdate:
        nulls = sorted(name for name in self.model_fields_set & NOT_NULL if getattr(self, name) is None)
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        if "expires_in" in self.model_fields_set and "expires_at" in self.model_fields_set:
            raise ValueError("give expires_at or expires_in, not both")
        return self


class KeyRotate(StrictModel):
    grace_seconds: Annotated[
        int, Field(ge=0, le=MAX_GRACE, description="How long the old key keeps working (0: it stops now).")
    ] = 0


# --- routes ----------------------------------------------------------------------------------------------------


@router.post("/keys", status_code=201)
async def create_key(body: KeyCreate, admin: AdminDep) -> dict[str, Any]:
    """Mint a key. The answer's ``key`` is the secret: it is shown this once and never again."""
    actor = admin.actor
    fields = changed_fields(body)
    now = datetime.now(UTC)
    if body.expires_at is not None and body.expires_in is not None:
        raise InvalidRequestError("Give expires_at or expires_in, not both.", param="expires_in")
    expires_at = _expiry(body.expires_at, body.expires_in, now)
    async with admin.change() as changes:
        team_id = await _team(changes.conn, actor, body.team)
        user_id = body.user_id if "user_id" in fields else _person(actor)
        rbac.authorize(actor, rbac.Action.CREATE, KEY, team_id=team_id, owner_user_id=user_id)
        models = _known_models(admin, body.allowed_models)
        _grant(actor, team_id, body.role, models, expires_at)
        spec = keys.KeySpec(
            team_id=team_id,
            role=body.role,
            name=body.name,
            project_id=body.project_id,
            user_id=user_id,
            service_principal_id=body.service_principal_id,
            allowed_models=models,
            expires_at=expires_at,
            limits=stored_limits(body.limits),
            budgets=stored_budgets(body.budgets),
            metadata=body.metadata,
        )
        await _check_refs(changes.conn, team_id, spec.project_id, user_id, spec.service_principal_id)
        minted = await keys.create(changes.conn, spec, created_by=_maker(actor))
        await changes.record(Change("create", KEY, minted.key["id"], team_id, after=minted.key))
    return {**minted.key, "key": minted.secret}


@router.get("/keys")
async def list_keys(
    admin: AdminDep,
    page: PageDep,
    team: Annotated[str | None, Query(description="Team id or name.")] = None,
    project_id: Annotated[str | None, Query()] = None,
    user_id: Annotated[str | None, Query()] = None,
    service_principal_id: Annotated[str | None, Query()] = None,
    enabled: Annotated[bool | None, Query()] = None,
    revoked: Annotated[bool | None, Query(description="true: only revoked keys; false: none of them.")] = None,
) -> dict[str, Any]:
    """Keys of the teams the caller can see (never a secret), in id order; page on with ``after=<last_id>``."""
    actor = admin.actor
    async with admin.read() as conn:
        team_id = await _team(conn, actor, team) if team is not None else None
        if team_id is not None:
            rbac.authorize(actor, rbac.Action.READ, KEY, team_id=team_id)
        rows = await keys.list_keys(
            conn,
            teams=rbac.visible_teams(actor),
            team_id=team_id,
            project_id=project_id,
            user_id=user_id,
            service_principal_id=service_principal_id,
            enabled=enabled,
            revoked=revoked,
            limit=page.limit,
            after=page.after,
        )
    return listing(rows, page.limit)


@router.get("/keys/{key_id}")
async def get_key(key_id: str, admin: AdminDep) -> dict[str, Any]:
    async with admin.read() as conn:
        row = await keys.get(conn, key_id)
    return _allowed(admin.actor, rbac.Action.READ, row)


@router.patch("/keys/{key_id}")
async def update_key(key_id: str, body: KeyUpdate, admin: AdminDep) -> dict[str, Any]:
    """Change some fields; a change to role, allowed_models, expires_at or team is checked like minting a key."""
    actor = admin.actor
    values = with_stored_limits(body.model_dump(include=changed_fields(body)), body)
    if "expires_in" in values:
        values["expires_at"] = datetime.now(UTC) + timedelta(seconds=values.pop("expires_in"))
    fields = set(values)
    async with admin.change() as changes:
        row = await keys.get(changes.conn, key_id, lock=True)
        if row is None:
            raise NotFoundError("No such key.")
        rbac.check_fields(actor, KEY, fields, team_id=row["team_id"], owner_user_id=row["user_id"])
        if not fields:
            return row
        _require_live(row, "changed")
        if "team_id" in fields:
            values["team_id"] = await _team(changes.conn, actor, values["team_id"])
        if values.get("expires_at") is not None:
            values["expires_at"] = _expiry(values["expires_at"], None, datetime.now(UTC))
        if "allowed_models" in fields:
            values["allowed_models"] = _known_models(admin, values["allowed_models"])
        after = {**row, **values}
        if fields & RIGHTS_FIELDS:
            _grant(actor, after["team_id"], Role(after["role"]), after["allowed_models"], after["expires_at"])
        if fields & REF_FIELDS:
            await _check_refs(
                changes.conn, after["team_id"], after["project_id"], after["user_id"], after["service_principal_id"]
            )
        updated = await keys.update(changes.conn, key_id, values)
        assert updated is not None
        await changes.record(Change("update", KEY, key_id, updated["team_id"], before=row, after=updated))
    return updated


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, admin: AdminDep) -> dict[str, Any]:
    """Stop a key for good (within 2 s on every replica). Revoking a revoked key changes nothing."""
    return await _revoke(key_id, admin)


@router.delete("/keys/{key_id}")
async def delete_key(key_id: str, admin: AdminDep) -> dict[str, Any]:
    """The same as ``POST /keys/{id}/revoke``: the row stays, for the audit trail."""
    return await _revoke(key_id, admin)


@router.post("/keys/{key_id}/rotate")
async def rotate_key(key_id: str, admin: AdminDep, body: Annotated[KeyRotate | None, Body()] = None) -> dict[str, Any]:
    """A new key with the same settings (its ``key`` is shown this once); the old one keeps working for
    ``grace_seconds`` (``rotated_from`` shows it) and then stops."""
    actor = admin.actor
    grace = body.grace_seconds if body is not None else 0
    async with admin.change() as changes:
        row = _allowed(actor, rbac.Action.ROTATE, await keys.get(changes.conn, key_id, lock=True))
        _require_live(row, "rotated")
        if row["status"] == "expired":
            raise _conflict("The key has expired; create a new one instead.", "key_expired")
        _grant(actor, row["team_id"], Role(row["role"]), row["allowed_models"], row["expires_at"])
        try:
            rotated = await keys.rotate(changes.conn, key_id, grace, created_by=_maker(actor))
        except keys.KeyStateError:
            raise _conflict("The key was rotated or revoked meanwhile.", "key_changed") from None
        assert rotated is not None
        old, minted = rotated
        await changes.record(Change("rotate", KEY, key_id, row["team_id"], before=row, after=old))
        created = {**minted.key, "rotated_from": key_id}
        await changes.record(Change("create", KEY, minted.key["id"], row["team_id"], after=created))
    return {**minted.key, "key": minted.secret, "rotated_from": old}


# --- helpers ---------------------------------------------------------------------------------------------------


async def _revoke(key_id: str, admin: AdminDep) -> dict[str, Any]:
    async with admin.change() as changes:
        row = _allowed(admin.actor, rbac.Action.REVOKE, await keys.get(changes.conn, key_id, lock=True))
        if row["revoked_at"] is not None:
            return row
        revoked = await keys.revoke(changes.conn, key_id)
        assert revoked is not None
        await changes.record(Change("revoke", KEY, key_id, row["team_id"], before=row, after=revoked))
    return revoked


def _allowed(actor: Principal, action: rbac.Action, row: dict[str, Any] | None) -> dict[str, Any]:
    """The key if ``action`` on it is allowed; 404 if there is none or it is of a team hidden from the actor."""
    if row is None:
        raise NotFoundError("No such key.")
    rbac.authorize(actor, action, KEY, team_id=row["team_id"], owner_user_id=row["user_id"])
    return row


async def _team(conn: AsyncConnection, actor: Principal, ref: str) -> str:
    """The id of the team ``ref`` (id or name) names; 404 if none, or if it is hidden from the actor."""
    found = [team for team in await keys.find_teams(conn, ref) if _sees(actor, team)]
    if not found:
        raise NotFoundError(f"No such team: {ref}.", param="team")
    if len(found) > 1:
        raise InvalidRequestError(f"Several teams are named {ref}; give the team's id.", param="team")
    return found[0]


def _sees(actor: Principal, team_id: str) -> bool:
    visible = rbac.visible_teams(actor)
    return visible is None or team_id in visible


def _person(actor: Principal) -> str | None:
    return actor.user_id if actor.kind in rbac.PEOPLE else None


def _maker(actor: Principal) -> str:
    return actor_fields(actor)["actor_id"]


def _known_models(admin: Admin, models: list[str] | None) -> list[str] | None:
    """The distinct model names, each checked against the current config (aliases resolve); 400 naming any other."""
    if models is None:
        return None
    routes = admin.state.snapshot.routes
    unknown = []
    for model in models:
        try:
            routes.resolve(model)
        except ModelNotFoundError:
            unknown.append(model)
    if unknown:
        raise InvalidRequestError(
            f"allowed_models: no configured model or alias is named {', '.join(sorted(set(unknown)))}.",
            param="allowed_models",
        )
    return sorted(set(models))


def _grant(actor: Principal, team_id: str, role: Role, models: list[str] | None, expires_at: datetime | None) -> None:
    rbac.check_key_grant(
        actor,
        team_id=team_id,
        role=role,
        allowed_models=frozenset(models) if models is not None else None,
        expires_at=expires_at,
        actor_expires_at=actor.expires_at,
    )


def _expiry(at: datetime | None, seconds: int | None, now: datetime) -> datetime | None:
    if seconds is not None:
        return now + timedelta(seconds=seconds)
    if at is None:
        return None
    at = keys.utc(at)
    if at <= now:
        raise InvalidRequestError(
            "expires_at: must be in the future (to stop a key now, revoke it).", param="expires_at"
        )
    return at


async def _check_refs(
    conn: AsyncConnection, team_id: str, project_id: str | None, user_id: str | None, principal_id: str | None
) -> None:
    missing = await keys.missing_refs(
        conn, team_id=team_id, project_id=project_id, user_id=user_id, service_principal_id=principal_id
    )
    if missing:
        raise InvalidRequestError(f"{missing[0]}: {_MISSING[missing[0]]}", param=missing[0])


def _require_live(row: dict[str, Any], verb: str) -> None:
    if row["revoked_at"] is not None:
        raise _conflict(f"The key is revoked; it cannot be {verb}.", "key_revoked")
    if row["rotated_to"] is not None:
        raise _conflict(f"The key was rotated to {row['rotated_to']}; it cannot be {verb}.", "key_rotated")


def _conflict(message: str, code: str) -> InvalidRequestError:
    return InvalidRequestError(message, status=409, code=code)
