"""User routes: ``/users`` (list, create) and ``/users/{id}`` (read, update, delete = disable). Users are
org-wide: org admins manage them and alone grant org roles; auditors read them; anyone else may read only their
own record (a person's, never a key's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from wardgate.api.admin.common import Metadata, StrictModel, changed_fields
from wardgate.api.admin.deps import AdminDep, PageDep, listing
from wardgate.api.admin.org_common import missing, updates
from wardgate.core.errors import InvalidRequestError, PermissionDeniedError
from wardgate.core.types import ORG_ROLES, Principal, Role
from wardgate.identity import rbac
from wardgate.identity.rbac import Action, ObjectKind
from wardgate.storage import org_users as store
from wardgate.storage.changes import Change

router = APIRouter(tags=["organisation"])
KIND = ObjectKind.USER
EMAIL_PATTERN = r"^[^@\s]{1,200}@[^@\s]{1,119}$"
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=320, description="The person's email (unique).")]
PersonName = Annotated[str, Field(min_length=1, max_length=200)]
ExternalId = Annotated[str, Field(min_length=1, max_length=200, description="The identity provider's subject.")]


class UserCreate(StrictModel):
    email: Email
    name: PersonName | None = None
    org_role: Role | None = None
    external_id: ExternalId | None = None
    metadata: Metadata = Field(default_factory=dict)


class UserUpdate(StrictModel):
    email: Email | None = None
    name: PersonName | None = None
    org_role: Role | None = None
    disabled: bool | None = None
    external_id: ExternalId | None = None
    metadata: Metadata | None = None


NULLABLE = frozenset({"name", "org_role", "external_id"})


def _grant_org_role(actor: Principal, role: Role | None) -> None:
    if role is None:
        return
    if role not in ORG_ROLES:
        names = ", ".join(sorted(ORG_ROLES))
        raise InvalidRequestError(f"org_role: one of {names}; team roles come with a membership.", param="org_role")
    rbac.check_role_grant(actor, team_id=None, role=role)


def _readable(actor: Principal) -> set[str] | None:
    """The users the caller may list: everyone (None) with an org role, else at most its own record."""
    if rbac.effective_org_role(actor) is not None:
        return None
    if actor.user_id is None:
        return set()
    try:
        rbac.authorize(actor, Action.READ, KIND, team_id=None, owner_user_id=actor.user_id)
    except PermissionDeniedError:
        return set()
    return {actor.user_id}


@router.get("/users")
async def list_users(
    admin: AdminDep, page: PageDep, email: Annotated[str | None, Query(max_length=320)] = None
) -> dict[str, Any]:
    """Every user for org admins and auditors; for anyone else only their own record."""
    async with admin.read() as conn:
        rows = await store.list_users(
            conn, user_ids=_readable(admin.actor), email=email, limit=page.limit, after=page.after
        )
    return listing(rows, page.limit)


@router.post("/users", status_code=201)
async def create_user(body: UserCreate, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, Action.CREATE, KIND, team_id=None)
    _grant_org_role(admin.actor, body.org_role)
    async with admin.change() as changes:
        user = await store.create_user(
            changes.conn,
            body.email,
            name=body.name,
            org_role=body.org_role,
            external_id=body.external_id,
            metadata=body.metadata,
        )
        await changes.record(Change("create", KIND, user["id"], None, None, user))
    return user


@router.get("/users/{user_id}")
async def get_user(user_id: str, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, Action.READ, KIND, team_id=None, owner_user_id=user_id)
    async with admin.read() as conn:
        user = await store.get_user(conn, user_id)
    if user is None:
        raise missing(KIND)
    return user


@router.patch("/users/{user_id}")
async def update_user(user_id: str, body: UserUpdate, admin: AdminDep) -> dict[str, Any]:
    rbac.check_fields(admin.actor, KIND, changed_fields(body), team_id=None, owner_user_id=user_id)
    values = updates(body, NULLABLE)
    if "org_role" in values:
        _grant_org_role(admin.actor, body.org_role)
    async with admin.change() as changes:
        before = await store.get_user(changes.conn, user_id)
        if before is None:
            raise missing(KIND)
        after = await store.update_user(changes.conn, user_id, values)
        await changes.record(Change("update", KIND, user_id, None, before, after))
    assert after is not None
    return after


@router.delete("/users/{user_id}")
async def disable_user(user_id: str, admin: AdminDep) -> dict[str, Any]:
    """Users are never removed (keys and change records name them): DELETE disables the user."""
    rbac.authorize(admin.actor, Action.DELETE, KIND, team_id=None, owner_user_id=user_id)
    async with admin.change() as changes:
        before = await store.get_user(changes.conn, user_id)
        if before is None:
            raise missing(KIND)
        after = await store.disable_user(changes.conn, user_id)
        await changes.record(Change("disable", KIND, user_id, None, before, after))
    assert after is not None
    return after
