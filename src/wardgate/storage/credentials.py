"""The provider credential repository: secrets sealed by the vault (AES-256-GCM envelope encryption under the
current master key), addressed by name.

Each secret is sealed with ``context`` = the credential's name, so a row's ciphertext copied under another name does
not decrypt. Everything this module returns to callers other than the gateway process is metadata
(:class:`CredentialInfo`: name, description, fingerprint, last 4 characters, master key id, version, timestamps),
never the secret; only :func:`load_all` opens secrets, for the process that sends them upstream. Async functions
over an ``AsyncConnection`` the caller opens (the admin API runs each change in one transaction with its change
record); SQLAlchemy Core only, every value a bound parameter. Every write bumps ``updated_at``, which running
gateways poll to pick up changes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from wardgate.core.errors import GatewayError, InvalidRequestError, NotFoundError
from wardgate.storage.ids import new_id
from wardgate.storage.schema import credentials
from wardgate.vault import Keyring, Sealed, VaultError, fingerprint, last4, open_sealed, rewrap, seal

MAX_SECRET_CHARS = 64 * 1024
"""Longer than any API key or service account JSON; a bound, not a format check."""
_METADATA = [c for c in credentials.c if c.name != "sealed"]
_REWRAP_PASSES = 3


class CredentialInUseError(GatewayError):
    """409: deleting a credential the active config still references."""

    status = 409
    error_type = "invalid_request_error"
    default_code = "credential_in_use"


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What may be shown about a stored credential: everything but the secret."""

    id: str
    name: str
    description: str | None
    fingerprint: str
    last4: str
    key_id: str
    version: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (timestamps as ISO 8601 UTC), as the admin API answers and change records store it."""
        return {
            "object": "credential",
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "fingerprint": self.fingerprint,
            "last4": self.last4,
            "key_id": self.key_id,
            "version": self.version,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite hands back naive values


def _info(row: Any) -> CredentialInfo:
    values = {column.name: row[column.name] for column in _METADATA}
    values["created_at"] = _utc(values["created_at"])
    values["updated_at"] = _utc(values["updated_at"])
    return CredentialInfo(**values)


def _check_secret(secret: str) -> None:
    if not secret or not secret.strip():
        raise InvalidRequestError("The secret is empty.", param="secret")
    if len(secret) > MAX_SECRET_CHARS:
        raise InvalidRequestError(f"The secret is longer than {MAX_SECRET_CHARS} characters.", param="secret")


def _sealed_columns(keyring: Keyring, name: str, secret: str) -> dict[str, Any]:
    _check_secret(secret)
    try:
        sealed = seal(keyring, secret, context=name)
    except VaultError as exc:  # the message names the problem, never the secret
        raise InvalidRequestError(str(exc), param="secret") from None
    return {
        "sealed": sealed.to_text(),
        "key_id": sealed.key_id,
        "fingerprint": fingerprint(secret),
        "last4": last4(secret),
    }


async def _find(conn: AsyncConnection, name: str) -> CredentialInfo | None:
    row = (await conn.execute(select(*_METADATA).where(credentials.c.name == name))).mappings().first()
    return _info(row) if row is not None else None


async def get_credential(conn: AsyncConnection, name: str) -> CredentialInfo:
    """The credential's metadata; 404 when there is none of that name."""
    found = await _find(conn, name)
    if found is None:
        raise NotFoundError(f"No credential named {name!r}.")
    return found


async def list_credentials(
    conn: AsyncConnection, *, limit: int = 100, after: str | None = None
) -> list[CredentialInfo]:
    """Metadata of at most ``limit`` credentials in id order, those after the cursor id ``after``."""
    query = select(*_METADATA).order_by(credentials.c.id).limit(limit)
    if after is not None:
        query = query.where(credentials.c.id > after)
    return [_info(row) for row in (await conn.execute(query)).mappings().all()]


async def create_credential(
    conn: AsyncConnection,
    keyring: Keyring,
    *,
    name: str,
    secret: str,
    description: str | None,
    created_by: str,
) -> CredentialInfo:
    """Seal ``secret`` under ``keyring.current`` and store it as version 1; 409 when the name is taken."""
    if await _find(conn, name) is not None:
        raise GatewayError(f"A credential named {name!r} already exists.", status=409, code="conflict")
    stamp = datetime.now(UTC)
    values = {
        "id": new_id("cred"),
        "name": name,
        "description": description,
        "version": 1,
        "created_by": created_by,
        "created_at": stamp,
        "updated_at": stamp,
        **_sealed_columns(keyring, name, secret),
    }
    try:
        await conn.execute(insert(credentials).values(**values))
    except IntegrityError:  # a concurrent create won the race past the check above
        raise GatewayError(f"A credential named {name!r} already exists.", status=409, code="conflict") from None
    return await get_credential(conn, name)


async def update_credential(
    conn: AsyncConnection,
    keyring: Keyring,
    name: str,
    *,
    secret: str,
    description: str | None = None,
    set_description: bool = False,
) -> tuple[CredentialInfo, CredentialInfo]:
    """Replace the secret (rotation; the version goes up by one) and, with ``set_description``, the description.
    Returns the metadata before and after; 404 when there is no credential of that name."""
    before = await get_credential(conn, name)
    values: dict[str, Any] = {
        **_sealed_columns(keyring, name, secret),
        "version": credentials.c.version + 1,
        "updated_at": datetime.now(UTC),
    }
    if set_description:
        values["description"] = description
    result = await conn.execute(update(credentials).where(credentials.c.name == name).values(**values))
    if result.rowcount == 0:  # deleted by a concurrent request after the read above
        raise NotFoundError(f"No credential named {name!r}.")
    return before, await get_credential(conn, name)


async def delete_credential(conn: AsyncConnection, name: str, *, referenced: Collection[str]) -> CredentialInfo:
    """Delete the credential and return its last metadata. Refused with 409 while ``referenced`` (the credential
    names the active config uses) contains it; 404 when there is none of that name."""
    before = await get_credential(conn, name)
    if name in referenced:
        raise CredentialInUseError(
            f"The credential {name!r} is referenced by the active config; remove the reference first."
        )
    await conn.execute(delete(credentials).where(credentials.c.id == before.id))
    return before


async def load_all(
    conn: AsyncConnection, keyring: Keyring, *, failures: dict[str, str] | None = None
) -> dict[str, str]:
    """Every credential's plaintext by name: for the gateway process only, never for an answer or a log.

    A credential that cannot be opened (its master key is not in ``keyring``, tampered data) raises
    :class:`VaultError`, or, when ``failures`` is given, is left out and its reason put there (name → message;
    messages name key ids, never secrets).
    """
    rows = (await conn.execute(select(credentials.c.name, credentials.c.sealed))).all()
    secrets: dict[str, str] = {}
    for name, sealed_text in rows:
        try:
            secrets[name] = open_sealed(keyring, Sealed.from_text(sealed_text), context=name)
        except VaultError as exc:
            if failures is None:
                raise
            failures[name] = str(exc)
    return secrets


async def rewrap_all(conn: AsyncConnection, keyring: Keyring) -> int:
    """Re-wrap every credential's data key under ``keyring.current`` (master-key rotation) and return how many
    changed. Run it in one transaction: a credential whose master key is missing from ``keyring`` raises
    :class:`VaultError` and nothing is changed. Secrets are never decrypted, only their data keys; rows keep their
    version and get a new ``updated_at``. A row rewritten concurrently (a rotation elsewhere) is read again."""
    current = keyring.current.key_id
    changed = 0
    for _ in range(_REWRAP_PASSES):
        query = select(credentials.c.id, credentials.c.name, credentials.c.sealed).where(
            credentials.c.key_id != current
        )
        rows = (await conn.execute(query.with_for_update())).all()
        if not rows:
            return changed
        for row_id, name, sealed_text in rows:
            fresh = rewrap(keyring, Sealed.from_text(sealed_text), context=name)
            result = await conn.execute(
                update(credentials)
                .where(credentials.c.id == row_id, credentials.c.sealed == sealed_text)
                .values(sealed=fresh.to_text(), key_id=fresh.key_id, updated_at=datetime.now(UTC))
            )
            changed += result.rowcount
    raise VaultError("credentials kept changing during the master key rotation; run it again")
