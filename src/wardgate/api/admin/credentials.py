"""Provider credential routes: stored sealed by the vault; answers show a fingerprint and the last 4 characters,
never the secret.

``POST /credentials`` stores one, ``GET /credentials`` and ``GET /credentials/{name}`` show metadata,
``PUT /credentials/{name}`` replaces the secret (rotation: the version goes up, every deployment referencing it
switches without a restart), ``DELETE /credentials/{name}`` removes one the active config does not reference. Org
admins only for writes; auditors may read metadata (``identity.rbac``: credentials are org-wide, so other callers
get 403). Every write is recorded with the metadata before and after (a fingerprint, never the secret); once it is
committed, this replica reloads its credentials and rebuilds its snapshot before answering, and the others pick it
up within a second.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import Field, SecretStr

from wardgate.api.admin.common import StrictModel
from wardgate.api.admin.deps import Admin, AdminDep, PageDep, listing
from wardgate.config.credential_refs import CREDENTIAL_NAME_PATTERN
from wardgate.core.errors import GatewayError
from wardgate.identity import rbac
from wardgate.runtime_credentials import CredentialStore
from wardgate.storage.changes import Change, actor_fields
from wardgate.storage.credentials import (
    MAX_SECRET_CHARS,
    create_credential,
    delete_credential,
    get_credential,
    list_credentials,
    update_credential,
)

router = APIRouter(tags=["credentials"])
_log = logging.getLogger("wardgate.admin")
KIND = rbac.ObjectKind.CREDENTIAL

CredentialName = Annotated[
    str,
    Field(
        pattern=CREDENTIAL_NAME_PATTERN,
        description="How the config refers to it: ${credential:NAME}. Letters, digits, '.', '_', '-' (up to 128).",
    ),
]
Secret = Annotated[
    SecretStr,
    Field(min_length=1, max_length=MAX_SECRET_CHARS, description="The provider secret; never shown again."),
]
Description = Annotated[str | None, Field(max_length=2000)]
NamePath = Annotated[str, Path(pattern=CREDENTIAL_NAME_PATTERN)]


class CredentialCreate(StrictModel):
    name: CredentialName
    secret: Secret
    description: Description = None


class CredentialRotate(StrictModel):
    """The new secret; ``description`` changes only when sent."""

    secret: Secret
    description: Description = None


def _store(admin: Admin) -> CredentialStore:
    store = admin.state.credentials
    if store is None:
        raise GatewayError("Credentials are not available on this gateway.", status=503, code="vault_unavailable")
    return store


async def _refresh(admin: Admin, store: CredentialStore) -> None:
    """Make the committed change live on this replica before answering (the others poll)."""
    try:
        await store.refresh(admin.state)
    except Exception:  # the change is committed; the background poll will retry
        _log.exception("credential refresh after an admin change failed")


@router.post("/credentials", status_code=201)
async def create(body: CredentialCreate, admin: AdminDep) -> dict[str, Any]:
    """Store a secret under a new name; the answer is its metadata (fingerprint, last 4 characters)."""
    rbac.authorize(admin.actor, rbac.Action.CREATE, KIND, team_id=None)
    store = _store(admin)
    async with admin.change() as changes:
        info = await create_credential(
            changes.conn,
            store.keyring,
            name=body.name,
            secret=body.secret.get_secret_value(),
            description=body.description,
            created_by=actor_fields(admin.actor)["actor_id"],
        )
        await changes.record(Change("create", KIND, info.id, after=info.as_dict()))
    await _refresh(admin, store)
    return info.as_dict()


@router.get("/credentials")
async def list_all(admin: AdminDep, page: PageDep) -> dict[str, Any]:
    """Metadata of every credential, in id order (``after``: the previous page's ``last_id``)."""
    rbac.authorize(admin.actor, rbac.Action.READ, KIND, team_id=None)
    async with admin.read() as conn:
        found = await list_credentials(conn, limit=page.limit, after=page.after)
    return listing([info.as_dict() for info in found], page.limit)


@router.get("/credentials/{name}")
async def read(name: NamePath, admin: AdminDep) -> dict[str, Any]:
    rbac.authorize(admin.actor, rbac.Action.READ, KIND, team_id=None)
    async with admin.read() as conn:
        info = await get_credential(conn, name)
    return info.as_dict()


@router.put("/credentials/{name}")
async def rotate(name: NamePath, body: CredentialRotate, admin: AdminDep) -> dict[str, Any]:
    """Replace the secret (rotation): the version goes up by one, and every deployment referencing the credential
    uses the new secret within about a second on every replica (at once on this one)."""
    rbac.authorize(admin.actor, rbac.Action.ROTATE, KIND, team_id=None)
    store = _store(admin)
    async with admin.change() as changes:
        before, after = await update_credential(
            changes.conn,
            store.keyring,
            name,
            secret=body.secret.get_secret_value(),
            description=body.description,
            set_description="description" in body.model_fields_set,
        )
        await changes.record(Change("rotate", KIND, after.id, before=before.as_dict(), after=after.as_dict()))
    await _refresh(admin, store)
    return after.as_dict()


@router.delete("/credentials/{name}")
async def remove(name: NamePath, admin: AdminDep) -> dict[str, Any]:
    """Delete a credential; refused with 409 while the active config references it."""
    rbac.authorize(admin.actor, rbac.Action.DELETE, KIND, team_id=None)
    referenced = {ref.name for ref in admin.state.snapshot.loaded.credential_refs}
    async with admin.change() as changes:
        before = await delete_credential(changes.conn, name, referenced=referenced)
        await changes.record(Change("delete", KIND, before.id, before=before.as_dict()))
    store = admin.state.credentials
    if store is not None:
        await _refresh(admin, store)
    return {"object": "credential", "id": before.id, "name": before.name, "deleted": True}
