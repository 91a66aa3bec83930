"""Gateway metadata kept in the database (the master key's hash) and the first-start bootstrap."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert

from wardgate.core.keys import hash_key
from wardgate.storage.database import Database
from wardgate.storage.schema import gateway_meta

MASTER_KEY_HASH = "master_key_sha256"
KEY_PREFIX = "wg-"
_SELECT_HASH = select(gateway_meta.c.value).where(gateway_meta.c.key == MASTER_KEY_HASH)


@dataclass(frozen=True, slots=True)
class MasterKey:
    key_hash: str
    generated: str | None = field(default=None, repr=False)
    """The plain key when this start generated it (to show once), else None."""


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def ensure_master_key(db: Database, configured: str | None) -> MasterKey:
    """The master key hash: from ``WARDGATE_MASTER_KEY`` if set, else the stored one, else a new key (stored as a
    hash only and returned in plain text once). Safe when several processes start at once."""
    if configured:
        return MasterKey(hash_key(configured))
    async with db.engine.begin() as conn:
        stored = (await conn.execute(_SELECT_HASH)).scalar()
    if stored:
        return MasterKey(stored)
    key = new_key()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(_insert_hash(key))
    except IntegrityError:  # another process won the race: use its key
        async with db.engine.begin() as conn:
            stored = (await conn.execute(_SELECT_HASH)).scalar_one()
        return MasterKey(stored)
    return MasterKey(hash_key(key), generated=key)


async def reset_master_key(db: Database) -> str:
    """Replace the stored master key with a new one and return it (shown once)."""
    key = new_key()
    async with db.engine.begin() as conn:
        await conn.execute(delete(gateway_meta).where(gateway_meta.c.key == MASTER_KEY_HASH))
        await conn.execute(_insert_hash(key))
    return key


def _insert_hash(key: str) -> Insert:
    return insert(gateway_meta).values(key=MASTER_KEY_HASH, value=hash_key(key), updated_at=datetime.now(UTC))
