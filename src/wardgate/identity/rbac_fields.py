"""Field-level rules of the RBAC policy, as data: which fields of an object a team role may change in an update.

Read by :func:`wardgate.identity.rbac.check_fields`; the module docstring of :mod:`wardgate.identity.rbac` draws
them as a table. These names are the contract with the admin API: it passes the names of the fields a request
changes, exactly as listed here. Anything not listed for a role is refused (403) for that role, so a field the
table does not know fails closed. An org admin may change every field except the immutable ones; an auditor and
a viewer may change none. The *values* of ``role``, ``allowed_models`` and ``expires_at`` are checked separately
(``check_key_grant`` / ``check_role_grant``).
"""

from __future__ import annotations

from collections.abc import Mapping

from wardgate.core.types import Role

IMMUTABLE_FIELDS = frozenset(
    {"id", "created_at", "key_hash", "created_by", "updated_at", "key_prefix", "revoked_at", "rotated_to"}
)
"""Never changed by an update, whoever asks (400, ``param`` = the field). The last four are kept by the gateway
itself (a revoked key stays revoked; rotation has its own action)."""

KEY_ADMIN_FIELDS = frozenset(
    {"name", "allowed_models", "enabled", "expires_at", "metadata", "limits", "budgets", "project_id", "role"}
)
"""What a team admin may change on any key of its team (not ``team_id``, ``user_id``, ``service_principal_id``)."""

KEY_OWNER_FIELDS = frozenset({"name", "metadata", "enabled"})
"""What a member may change on its own keys."""

TEAM_FIELD_RIGHTS: Mapping[str, Mapping[Role, frozenset[str]]] = {
    "key": {Role.TEAM_ADMIN: KEY_ADMIN_FIELDS, Role.MEMBER: KEY_OWNER_FIELDS},
    "project": {Role.TEAM_ADMIN: frozenset({"name", "metadata", "limits", "budgets"})},
    "service_principal": {Role.TEAM_ADMIN: frozenset({"name", "metadata", "kind", "project_id"})},
    "membership": {Role.TEAM_ADMIN: frozenset({"role"})},
    "team": {Role.TEAM_ADMIN: frozenset({"name", "metadata"})},
}
"""Object kind → team role → the fields that role may change. Kinds not listed (org, user, credential) are
changed by org admins only; admin change records are never changed. The names are the columns of
``storage/schema.py``; a column added there is org-admin-only until it is listed here.

``limits`` and ``budgets``: a team admin sets them on its team's keys and projects, never on its own team (it
could raise its own ceiling), so a team's limits and budgets are org-admin-only."""
