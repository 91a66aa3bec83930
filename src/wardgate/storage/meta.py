"""Gateway metadata kept in the database (the master key's hash, for now) and the first-start bootstrap."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, create_engine, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.sql.dml import Insert

from wardgate.core.keys import hash_key
from wardgate.settings import Settings

metadata = MetaData()
gateway_meta = Table(
    "gateway_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
MASTER_KEY_HASH = "master_key_sha256"
KEY_PREFIX = "wg-"
_SELECT_HASH = select(gateway_meta.c.value).where(gateway_meta.c.key == MASTER_KEY_HASH)


def _insert_hash(key: str) -> Insert:
    return insert(gateway_meta).values(key=MASTER_KEY_HASH, value=hash_key(key), updated_at=datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class MasterKey:
    key_hash: str
    generated: str | None = field(default=None, repr=False)
    """The plain key when this start generated it (to show once), else None."""


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def open_engine(settings: Settings) -> Engine:
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.sql_url)
    create_tables(engine)
    return engine


def create_tables(engine: Engine, tables: list[Table] | None = None) -> None:
    """Create missing tables; safe when several processes start at once (the loser of a race sees them made)."""
    try:
        metadata.create_all(engine, tables=tables)
    except (OperationalError, ProgrammingError):
        metadata.create_all(engine, tables=tables)


def ensure_master_key(settings: Settings) -> MasterKey:
    """The master key hash: from ``WARDGATE_MASTER_KEY`` if set, else the stored one, else a new key (stored as a
    hash only and returned in plain text once). Safe when several processes start at once."""
    if settings.master_key:
        return MasterKey(hash_key(settings.master_key))
    engine = open_engine(settings)
    try:
        with engine.begin() as conn:
            stored = conn.execute(select(gateway_meta.c.value).where(gateway_meta.c.key == MASTER_KEY_HASH)).scalar()
        if stored:
            return MasterKey(stored)
        key = new_key()
        try:
            with engine.begin() as conn:
                conn.execute(
                    insert(gateway_meta).values(key=MASTER_KEY_HASH, value=hash_key(key), updated_at=datetime.now(UTC))
                )
        except IntegrityError:  # another process won the race: use its key
            with engine.begin() as conn:
                stored = conn.execute(_SELECT_HASH).scalar_one()
            return MasterKey(stored)
        return MasterKey(hash_key(key), generated=key)
    finally:
        engine.dispose()


def reset_master_key(settings: Settings) -> str:
    """Replace the stored master key with a new one and return it (shown once)."""
    engine = open_engine(settings)
    key = new_key()
    try:
        with engine.begin() as conn:
            conn.execute(gateway_meta.delete().where(gateway_meta.c.key == MASTER_KEY_HASH))
            conn.execute(
                insert(gateway_meta).values(key=MASTER_KEY_HASH, value=hash_key(key), updated_at=datetime.now(UTC))
            )
    finally:
        engine.dispose()
    return key
