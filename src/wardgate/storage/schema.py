"""Every table the gateway keeps, as SQLAlchemy Core ``Table`` objects on one ``MetaData`` (the Alembic migrations
in ``storage/migrations`` create and evolve them; nothing calls ``create_all`` outside tests).

Ids are text with a readable prefix (``team_…``, ``key_…``); timestamps are timezone-aware UTC; JSON columns hold
lists and objects (limits, budgets, metadata). Secrets never appear here in plain text: virtual keys as a SHA-256
hash, provider credentials sealed by the vault.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)
ID = 64
NAME = 200


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False)


def _updated() -> Column[object]:
    return Column("updated_at", DateTime(timezone=True), nullable=False, index=True)


def _json_object(name: str) -> Column[object]:
    """A JSON object column that is ``{}`` unless set (also for rows older than the column: migration 0002)."""
    return Column(name, JSON, nullable=False, default=dict, server_default="{}")


gateway_meta = Table(
    "gateway_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

orgs = Table(
    "orgs",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("metadata", JSON, nullable=False, default=dict),
    _created(),
    _updated(),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("org_id", String(ID), ForeignKey("orgs.id"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("metadata", JSON, nullable=False, default=dict),
    _json_object("limits"),
    _json_object("budgets"),
    _created(),
    _updated(),
    UniqueConstraint("org_id", "name"),
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("team_id", String(ID), ForeignKey("teams.id"), nullable=False, index=True),
    Column("name", String(NAME), nullable=False),
    Column("metadata", JSON, nullable=False, default=dict),
    _json_object("limits"),
    _json_object("budgets"),
    _created(),
    _updated(),
    UniqueConstraint("team_id", "name"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("org_id", String(ID), ForeignKey("orgs.id"), nullable=False),
    Column("email", String(320), nullable=True, unique=True),
    Column("name", String(NAME), nullable=True),
    Column("external_id", String(NAME), nullable=True, unique=True),
    Column("org_role", String(32), nullable=True),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("metadata", JSON, nullable=False, default=dict),
    _created(),
    _updated(),
)

memberships = Table(
    "memberships",
    metadata,
    Column("user_id", String(ID), ForeignKey("users.id"), primary_key=True),
    Column("team_id", String(ID), ForeignKey("teams.id"), primary_key=True),
    Column("role", String(32), nullable=False),
    _created(),
    _updated(),
)

service_principals = Table(
    "service_principals",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("team_id", String(ID), ForeignKey("teams.id"), nullable=False, index=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=True),
    Column("name", String(NAME), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("metadata", JSON, nullable=False, default=dict),
    _created(),
    _updated(),
    UniqueConstraint("team_id", "name"),
)

virtual_keys = Table(
    "virtual_keys",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("team_id", String(ID), ForeignKey("teams.id"), nullable=False, index=True),
    Column("project_id", String(ID), ForeignKey("projects.id"), nullable=True),
    Column("user_id", String(ID), ForeignKey("users.id"), nullable=True),
    Column("service_principal_id", String(ID), ForeignKey("service_principals.id"), nullable=True),
    Column("role", String(32), nullable=False),
    Column("allowed_models", JSON, nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("rotated_to", String(ID), nullable=True),
    Column("limits", JSON, nullable=False, default=dict),
    Column("budgets", JSON, nullable=False, default=dict),
    Column("metadata", JSON, nullable=False, default=dict),
    Column("created_by", String(NAME), nullable=False),
    _created(),
    _updated(),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("sealed", Text, nullable=False),
    Column("key_id", String(32), nullable=False, index=True),
    Column("fingerprint", String(64), nullable=False),
    Column("last4", String(8), nullable=False),
    Column("description", Text, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_by", String(NAME), nullable=False),
    _created(),
    _updated(),
)

admin_changes = Table(
    "admin_changes",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(NAME), nullable=False),
    Column("action", String(32), nullable=False),
    Column("object_kind", String(32), nullable=False),
    Column("object_id", String(ID), nullable=False),
    Column("team_id", String(ID), nullable=True, index=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("request_id", String(128), nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(ID), ForeignKey("users.id"), nullable=False, index=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("data", JSON, nullable=False, default=dict),
    _created(),
)

login_states = Table(
    "login_states",
    metadata,
    Column("state", String(128), primary_key=True),
    Column("data", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

responses = Table(
    "responses",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("previous_id", String(128), nullable=True),
    Column("response", Text, nullable=False),
    Column("input_items", Text, nullable=False),
    Index("ix_responses_expires_at", "expires_at"),
)


# --- spend (``wardgate.spend``) --------------------------------------------------------------------------------

NANOS = Decimal(1_000_000_000)


def usd_value(amount: Any, sqlite: bool) -> Decimal | int:
    """What a ``Usd`` column stores for ``amount``: nano-dollars on SQLite, a 9-place ``Decimal`` elsewhere."""
    exact = Decimal(amount).quantize(Decimal("1e-9"))
    return int(exact * NANOS) if sqlite else exact


class Usd(TypeDecorator[Decimal]):
    """US dollars as an exact ``Decimal`` with 9 decimal places, never a float: ``NUMERIC(18, 9)`` on PostgreSQL;
    SQLite has no exact decimal type, so there it is an INTEGER of nano-dollars (sums stay exact integers)."""

    impl = Numeric(18, 9)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 9, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else usd_value(value, dialect.name == "sqlite")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / NANOS).quantize(Decimal("1e-9"))
        return Decimal(value).quantize(Decimal("1e-9"))


def _tokens(name: str) -> Column[object]:
    return Column(name, BigInteger, nullable=False, default=0, server_default="0")


SPEND_DIMENSIONS = ("team_id", "project_id", "key_id", "user_id", "agent", "app", "model", "provider")
"""The attribution columns rollups are kept by (``""`` where the request had none: unique keys need non-null)."""
SPEND_SUMS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)

spend_ledger = Table(
    "spend_ledger",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("request_id", String(128), nullable=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("org_id", String(ID), nullable=True),
    Column("team_id", String(ID), nullable=True),
    Column("project_id", String(ID), nullable=True),
    Column("key_id", String(ID), nullable=True),
    Column("user_id", String(ID), nullable=True),
    Column("agent", String(NAME), nullable=True),
    Column("app", String(NAME), nullable=True),
    Column("model", String(NAME), nullable=True),
    Column("provider", String(NAME), nullable=True),
    Column("deployment", String(300), nullable=True),
    Column("upstream_model", String(NAME), nullable=True),
    Column("tags", JSON, nullable=False, default=list),
    Column("endpoint", String(64), nullable=True),
    Column("stream", Boolean, nullable=False, default=False),
    Column("status", Integer, nullable=False),
    *(_tokens(name) for name in SPEND_SUMS),
    Column("cost_usd", Usd(), nullable=False),
    Column("cost_known", Boolean, nullable=False),
    Index("ix_spend_ledger_team_id_at", "team_id", "at"),
    Index("ix_spend_ledger_key_id_at", "key_id", "at"),
    Index("ix_spend_ledger_model_at", "model", "at"),
)
"""One row per request (``wardgate.spend.ledger`` writes it behind the request, idempotently by ``id``)."""

spend_tags = Table(
    "spend_tags",
    metadata,
    Column("record_id", String(ID), nullable=False),
    Column("tag", String(NAME), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("record_id", "tag"),
    Index("ix_spend_tags_tag_at", "tag", "at"),
)
"""A ledger row's tags, one row each, so a tag filter or group-by is an indexed join."""

spend_rollups = Table(
    "spend_rollups",
    metadata,
    Column("bucket", String(8), nullable=False),
    Column("bucket_start", DateTime(timezone=True), nullable=False),
    *(Column(name, String(ID if name.endswith("_id") else NAME), nullable=False) for name in SPEND_DIMENSIONS),
    Column("requests", BigInteger, nullable=False, default=0, server_default="0"),
    Column("unpriced_requests", BigInteger, nullable=False, default=0, server_default="0"),
    *(_tokens(name) for name in SPEND_SUMS),
    Column("cost_usd", Usd(), nullable=False),
    PrimaryKeyConstraint("bucket", "bucket_start", *SPEND_DIMENSIONS),
)
"""Sums per minute, hour and day (``bucket``) and per combination of the attribution columns, upserted with the
ledger rows they count, in the same transaction."""

# --- audit trail (``wardgate.audit``): append-only, hash-chained ---------------------------------------------------
GENESIS_HASH = "0" * 64

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("id", String(ID), nullable=False, unique=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("team_id", String(ID), nullable=True),
    Column("key_id", String(ID), nullable=True),
    Column("user_id", String(ID), nullable=True),
    Column("model", String(NAME), nullable=True),
    Column("status", Integer, nullable=True),
    Column("flags", String(NAME), nullable=True),
    Column("record", Text, nullable=True),
    Column("record_hash", String(64), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_team_id_at", "team_id", "at"),
)
"""One row per audited event (a proxy request, an admin change), in chain order ``seq``. ``record`` is the
event's canonical JSON exactly as written (``audit.record``); ``record_hash`` its SHA-256; ``hash`` chains
``seq``, ``id``, ``at``, ``record_hash`` and ``prev_hash`` (``audit.chain``). Retention may purge ``record``
(``purged_at`` set) while ``record_hash`` keeps the chain verifiable. The columns between ``kind`` and ``flags``
are an index of the record and must agree with it.

Few indexes on purpose: every index costs the shipper CPU on every row, and one over random values (a request id)
costs the most. Ids are time-ordered (``audit.record.new_audit_id``) so the unique index grows at its end; reads
select a time range (``at``) or a team's (``team_id, at``) and filter the rest."""

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("base_seq", BigInteger, nullable=False),
    Column("base_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""One row (id 1): the chain's last ``seq`` and ``hash`` (every writer locks it to append), and its base (the
``prev_hash`` of the first row kept after retention deleted the oldest rows)."""

audit_seals = Table(
    "audit_seals",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("seq", BigInteger, nullable=False, index=True),
    Column("hash", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(ID), nullable=True),
    Column("mac", String(64), nullable=True),
)
"""Periodic seals: the chain's ``hash`` at ``seq``, authenticated by an HMAC under a key derived from the vault's
master key (``key_id``), so rewriting the chain after an edit needs the master key too."""

audit_cursors = Table(
    "audit_cursors",
    metadata,
    Column("name", String(NAME), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("lease_owner", String(NAME), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
"""Delivery cursors of the audit sinks (``audit.sinks``): the last ``seq`` a sink has delivered, and which process
holds the lease to deliver it (one replica at a time per sink)."""
