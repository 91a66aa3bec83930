"""Tests of the RBAC policy: the full matrix of roles, actions and kinds, visibility (404 for other teams), the key and
role escalation guards, field-level rules, and that the module docstring shows the rights table in force."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from wardgate.core.errors import GatewayError, InvalidRequestError, NotFoundError, PermissionDeniedError
from wardgate.core.types import Principal, Role
from wardgate.identity import rbac
from wardgate.identity.rbac import (
    RIGHTS,
    Action,
    ObjectKind,
    authorize,
    check_fields,
    check_key_grant,
    check_role_grant,
    visible_teams,
)

T, OTHER = "team-a", "team-b"

ACTORS: dict[str, Principal] = {
    "master": Principal(key_id="master", kind="master"),
    "org_admin": Principal(key_id="user:oa", kind="session", org_role=Role.ORG_ADMIN, user_id="oa"),
    "auditor": Principal(key_id="user:au", kind="session", org_role=Role.AUDITOR, user_id="au"),
    "team_admin": Principal(key_id="user:ta", kind="session", teams={T: Role.TEAM_ADMIN}, user_id="ta"),
    "member": Principal(key_id="user:me", kind="jwt", teams={T: Role.MEMBER}, user_id="me"),
    "viewer": Principal(key_id="user:vi", kind="session", teams={T: Role.VIEWER}, user_id="vi"),
    "admin_key": Principal(key_id="k-admin", kind="key", teams={T: Role.TEAM_ADMIN}),
    "member_key": Principal(key_id="k-member", kind="key", teams={T: Role.MEMBER}, user_id="me"),
    "outsider": Principal(key_id="user:ob", kind="session", teams={OTHER: Role.TEAM_ADMIN}, user_id="ob"),
    "nobody": Principal(key_id="user:no", kind="session", user_id="no"),
}

# kind / action / scope (T: the object is in team T, -: org-wide) / owner (own: the acting person, other: someone
# else) → the outcome for each actor, in the order of ACTORS. Every (kind, action) of RIGHTS appears at least once.
MATRIX = """
org               read    -  other  ok ok ok  ok  ok  ok  ok  ok  ok  ok
org               update  -  other  ok ok 403 403 403 403 403 403 403 403
team              create  -  other  ok ok 403 403 403 403 403 403 403 403
team              read    T  other  ok ok ok  ok  ok  ok  ok  ok  404 404
team              update  T  other  ok ok 403 ok  403 403 ok  403 404 404
team              delete  T  other  ok ok 403 403 403 403 403 403 404 404
project           read    T  other  ok ok ok  ok  ok  ok  ok  ok  404 404
project           create  T  other  ok ok 403 ok  403 403 ok  403 404 404
project           update  T  other  ok ok 403 ok  403 403 ok  403 404 404
project           delete  T  other  ok ok 403 ok  403 403 ok  403 404 404
user              read    -  other  ok ok ok  403 403 403 403 403 403 403
user              read    -  own    ok ok ok  ok  ok  ok  403 403 ok  ok
user              create  -  other  ok ok 403 403 403 403 403 403 403 403
user              update  -  own    ok ok 403 403 403 403 403 403 403 403
user              delete  -  other  ok ok 403 403 403 403 403 403 403 403
user              grant   -  own    ok ok 403 403 403 403 403 403 403 403
membership        read    T  other  ok ok ok  ok  ok  ok  ok  ok  404 404
membership        create  T  other  ok ok 403 ok  403 403 ok  403 404 404
membership        update  T  own    ok ok 403 ok  403 403 ok  403 404 404
membership        delete  T  own    ok ok 403 ok  403 403 ok  403 404 404
membership        grant   T  other  ok ok 403 ok  403 403 ok  403 404 404
service_principal read    T  other  ok ok ok  ok  ok  ok  ok  ok  404 404
service_principal create  T  other  ok ok 403 ok  403 403 ok  403 404 404
service_principal update  T  other  ok ok 403 ok  403 403 ok  403 404 404
service_principal delete  T  other  ok ok 403 ok  403 403 ok  403 404 404
key               read    T  other  ok ok ok  ok  ok  ok  ok  ok  404 404
key               create  T  other  ok ok 403 ok  403 403 ok  403 404 404
key               create  T  own    ok ok 403 ok  ok  403 ok  403 404 404
key               update  T  other  ok ok 403 ok  403 403 ok  403 404 404
key               update  T  own    ok ok 403 ok  ok  403 ok  403 404 404
key               rotate  T  other  ok ok 403 ok  403 403 ok  403 404 404
key               rotate  T  own    ok ok 403 ok  ok  403 ok  403 404 404
key               revoke  T  other  ok ok 403 ok  403 403 ok  403 404 404
key               revoke  T  own    ok ok 403 ok  ok  403 ok  403 404 404
key               delete  T  own    ok ok 403 ok  403 403 ok  403 404 404
key               read    -  other  ok ok ok  403 403 403 403 403 403 403
credential        read    -  other  ok ok ok  403 403 403 403 403 403 403
credential        create  -  other  ok ok 403 403 403 403 403 403 403 403
credential        update  -  other  ok ok 403 403 403 403 403 403 403 403
credential        delete  -  other  ok ok 403 403 403 403 403 403 403 403
credential        rotate  -  other  ok ok 403 403 403 403 403 403 403 403
admin_change      read    T  other  ok ok ok  ok  403 403 ok  403 404 404
admin_change      read    -  other  ok ok ok  403 403 403 403 403 403 403
"""

OUTCOMES: dict[str, type[GatewayError] | None] = {"ok": None, "403": PermissionDeniedError, "404": NotFoundError}


def matrix_cases() -> list[tuple[str, ObjectKind, Action, str | None, str, str]]:
    cases = []
    for line in MATRIX.strip().splitlines():
        kind, action, scope, owner, *outcomes = line.split()
        assert len(outcomes) == len(ACTORS), line
        for actor_name, outcome in zip(ACTORS, outcomes, strict=True):
            team_id = T if scope == "T" else None
            cases.append((actor_name, ObjectKind(kind), Action(action), team_id, owner, outcome))
    return cases


def run(actor: Principal, outcome: str, fn: Callable[..., None], *args: object, **kwargs: object) -> None:
    expected = OUTCOMES[outcome]
    if expected is None:
        fn(*args, **kwargs)
    else:
        with pytest.raises(expected) as caught:
            fn(*args, **kwargs)
        assert type(caught.value) is expected


@pytest.mark.parametrize(("actor_name", "kind", "action", "team_id", "owner", "outcome"), matrix_cases())
def test_rights_matrix(
    actor_name: str, kind: ObjectKind, action: Action, team_id: str | None, owner: str, outcome: str
) -> None:
    actor = ACTORS[actor_name]
    owner_user_id = actor.user_id if owner == "own" else "someone-else"
    run(actor, outcome, authorize, actor, action, kind, team_id=team_id, owner_user_id=owner_user_id)


def test_matrix_covers_every_operation() -> None:
    covered = {(kind, action) for _, kind, action, *_ in matrix_cases()}
    assert covered == {(kind, action) for kind, actions in RIGHTS.items() for action in actions}


@pytest.mark.parametrize("kind", list(ObjectKind))
@pytest.mark.parametrize("action", list(Action))
def test_operations_outside_the_table_are_caller_bugs(kind: ObjectKind, action: Action) -> None:
    if action in RIGHTS[kind]:
        authorize(ACTORS["master"], action, kind, team_id=T)  # the master key does everything
        return
    for actor in ACTORS.values():
        with pytest.raises(ValueError, match="not an operation"):
            authorize(actor, action, kind, team_id=T)


def test_admin_change_records_are_never_written() -> None:
    for action in (Action.CREATE, Action.UPDATE, Action.DELETE):
        with pytest.raises(ValueError):
            authorize(ACTORS["master"], action, ObjectKind.ADMIN_CHANGE, team_id=None)


def test_docstring_shows_the_rights_in_force() -> None:
    doc = rbac.__doc__ or ""
    header = "    kind               read  create  update  delete  revoke  rotate  grant"
    assert header in doc
    for kind, actions in RIGHTS.items():
        cells = [str(actions[a]) if a in actions else "." for a in Action]
        row = f"    {kind:<19}" + "".join(f"{cell:<{len(a) + 2}}" for cell, a in zip(cells, Action, strict=True))
        assert row.rstrip() in doc, row


# --- visibility ------------------------------------------------------------------------------------------------


def test_visible_teams() -> None:
    assert visible_teams(ACTORS["master"]) is None
    assert visible_teams(ACTORS["org_admin"]) is None
    assert visible_teams(ACTORS["auditor"]) is None
    assert visible_teams(ACTORS["member"]) == {T}
    assert visible_teams(ACTORS["nobody"]) == set()
    both = Principal(key_id="user:x", kind="session", teams={T: Role.VIEWER, OTHER: Role.MEMBER}, user_id="x")
    assert visible_teams(both) == {T, OTHER}


def test_team_admin_of_a_acting_on_team_b_sees_nothing() -> None:
    admin_a = ACTORS["team_admin"]
    for kind in (ObjectKind.KEY, ObjectKind.PROJECT, ObjectKind.MEMBERSHIP, ObjectKind.SERVICE_PRINCIPAL):
        for action in RIGHTS[kind]:
            with pytest.raises(NotFoundError) as caught:
                authorize(admin_a, action, kind, team_id=OTHER)
            assert caught.value.http_status == 404
    with pytest.raises(NotFoundError):
        check_key_grant(admin_a, team_id=OTHER, role=Role.MEMBER, allowed_models=None, expires_at=None)
    with pytest.raises(NotFoundError):
        check_role_grant(admin_a, team_id=OTHER, role=Role.VIEWER)
    with pytest.raises(NotFoundError):
        check_fields(admin_a, ObjectKind.KEY, {"id"}, team_id=OTHER)  # 404 before 400: nothing leaks


def test_org_role_and_team_role_combine() -> None:
    both = Principal(key_id="user:x", kind="session", org_role=Role.AUDITOR, teams={T: Role.TEAM_ADMIN}, user_id="x")
    authorize(both, Action.CREATE, ObjectKind.KEY, team_id=T)
    authorize(both, Action.READ, ObjectKind.CREDENTIAL, team_id=None)
    with pytest.raises(PermissionDeniedError):
        authorize(both, Action.CREATE, ObjectKind.KEY, team_id=OTHER)


def test_roles_outside_their_scope_count_as_none() -> None:
    odd = Principal(key_id="user:x", kind="session", org_role=Role.MEMBER, teams={T: Role.ORG_ADMIN}, user_id="x")
    assert visible_teams(odd) == set()
    with pytest.raises(NotFoundError):
        authorize(odd, Action.READ, ObjectKind.KEY, team_id=T)


def test_error_messages_name_the_role_and_the_need() -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        authorize(ACTORS["member"], Action.REVOKE, ObjectKind.KEY, team_id=T, owner_user_id="someone-else")
    assert caught.value.message == (
        "Role 'member' may not revoke this key: it needs team_admin, or member for your own keys."
    )
    with pytest.raises(NotFoundError) as not_found:
        authorize(ACTORS["outsider"], Action.READ, ObjectKind.SERVICE_PRINCIPAL, team_id=T)
    assert not_found.value.message == "No such service principal."


# --- key grants ------------------------------------------------------------------------------------------------

SOON = datetime(2030, 1, 1, tzinfo=UTC)


def grant_key(
    actor: Principal,
    role: Role = Role.MEMBER,
    *,
    team_id: str = T,
    allowed_models: frozenset[str] | None = None,
    expires_at: datetime | None = None,
    actor_expires_at: datetime | None = None,
) -> None:
    check_key_grant(
        actor,
        team_id=team_id,
        role=role,
        allowed_models=allowed_models,
        expires_at=expires_at,
        actor_expires_at=actor_expires_at,
    )


@pytest.mark.parametrize(
    ("actor_name", "role", "outcome"),
    [
        ("master", Role.TEAM_ADMIN, "ok"),
        ("org_admin", Role.TEAM_ADMIN, "ok"),
        ("team_admin", Role.TEAM_ADMIN, "ok"),
        ("team_admin", Role.VIEWER, "ok"),
        ("admin_key", Role.TEAM_ADMIN, "ok"),
        ("member", Role.MEMBER, "ok"),
        ("member", Role.VIEWER, "ok"),
        ("member", Role.TEAM_ADMIN, "403"),
        ("member_key", Role.MEMBER, "ok"),
        ("member_key", Role.TEAM_ADMIN, "403"),
        ("viewer", Role.VIEWER, "403"),
        ("auditor", Role.VIEWER, "403"),
        ("nobody", Role.VIEWER, "404"),
        ("outsider", Role.MEMBER, "404"),
    ],
)
def test_key_role_never_exceeds_the_makers(actor_name: str, role: Role, outcome: str) -> None:
    run(ACTORS[actor_name], outcome, grant_key, ACTORS[actor_name], role)


def test_member_minting_a_team_admin_key_names_the_role() -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        grant_key(ACTORS["member"], Role.TEAM_ADMIN)
    assert caught.value.param == "role"
    assert "team_admin" in caught.value.message


@pytest.mark.parametrize("role", [Role.ORG_ADMIN, Role.AUDITOR])
def test_keys_carry_team_roles_only(role: Role) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        grant_key(ACTORS["master"], role)
    assert caught.value.param == "role"


RESTRICTED = Principal(
    key_id="k-r", kind="key", teams={T: Role.TEAM_ADMIN}, allowed_models=frozenset({"gpt-4o", "claude"})
)


def test_model_restricted_key_grants_a_subset_only() -> None:
    grant_key(RESTRICTED, allowed_models=frozenset({"gpt-4o"}))
    grant_key(RESTRICTED, allowed_models=frozenset({"gpt-4o", "claude"}))
    grant_key(RESTRICTED, allowed_models=frozenset())
    with pytest.raises(PermissionDeniedError) as unrestricted:
        grant_key(RESTRICTED, allowed_models=None)
    assert unrestricted.value.param == "allowed_models"
    with pytest.raises(PermissionDeniedError) as extra:
        grant_key(RESTRICTED, allowed_models=frozenset({"gpt-4o", "o3", "gemini"}))
    assert extra.value.param == "allowed_models"
    assert "gemini, o3" in extra.value.message


def test_unrestricted_makers_grant_any_models() -> None:
    grant_key(ACTORS["team_admin"], allowed_models=None)
    grant_key(ACTORS["team_admin"], allowed_models=frozenset({"anything"}))


def test_expiring_key_mints_keys_that_expire_no_later() -> None:
    key = ACTORS["admin_key"]
    grant_key(key, expires_at=SOON, actor_expires_at=SOON)
    grant_key(key, expires_at=SOON - timedelta(days=1), actor_expires_at=SOON)
    grant_key(key, expires_at=datetime(2029, 12, 31), actor_expires_at=SOON)  # naive = UTC
    with pytest.raises(PermissionDeniedError) as longer:
        grant_key(key, expires_at=SOON + timedelta(seconds=1), actor_expires_at=SOON)
    assert longer.value.param == "expires_at"
    with pytest.raises(PermissionDeniedError) as forever:
        grant_key(key, expires_at=None, actor_expires_at=SOON)
    assert forever.value.param == "expires_at"
    grant_key(key, expires_at=None)  # a key without expiry mints keys without expiry


def test_people_and_the_master_key_are_not_bound_by_an_expiry() -> None:
    grant_key(ACTORS["team_admin"], expires_at=None)
    grant_key(ACTORS["master"], expires_at=SOON + timedelta(days=3650))


# --- role grants -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_name", "team_id", "role", "outcome"),
    [
        ("master", None, Role.ORG_ADMIN, "ok"),
        ("org_admin", None, Role.AUDITOR, "ok"),
        ("org_admin", T, Role.TEAM_ADMIN, "ok"),
        ("team_admin", None, Role.ORG_ADMIN, "403"),
        ("team_admin", None, Role.AUDITOR, "403"),
        ("team_admin", T, Role.TEAM_ADMIN, "ok"),
        ("team_admin", T, Role.VIEWER, "ok"),
        ("admin_key", T, Role.TEAM_ADMIN, "ok"),
        ("auditor", None, Role.AUDITOR, "403"),
        ("auditor", T, Role.VIEWER, "403"),
        ("member", T, Role.VIEWER, "403"),
        ("member", T, Role.MEMBER, "403"),
        ("viewer", T, Role.VIEWER, "403"),
        ("outsider", T, Role.VIEWER, "404"),
    ],
)
def test_role_grants(actor_name: str, team_id: str | None, role: Role, outcome: str) -> None:
    run(ACTORS[actor_name], outcome, check_role_grant, ACTORS[actor_name], team_id=team_id, role=role)


def test_role_grant_scope_mismatches_are_bad_requests() -> None:
    with pytest.raises(InvalidRequestError) as org_in_team:
        check_role_grant(ACTORS["master"], team_id=T, role=Role.ORG_ADMIN)
    assert org_in_team.value.param == "role"
    with pytest.raises(InvalidRequestError) as team_without_team:
        check_role_grant(ACTORS["master"], team_id=None, role=Role.MEMBER)
    assert team_without_team.value.param == "team_id"


def test_team_admin_minting_an_org_role_names_it() -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        check_role_grant(ACTORS["team_admin"], team_id=None, role=Role.ORG_ADMIN)
    assert caught.value.param == "role"
    assert "org_admin" in caught.value.message


# --- fields ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["id", "created_at", "key_hash", "created_by", "updated_at", "key_prefix", "revoked_at", "rotated_to"]
)
@pytest.mark.parametrize("actor_name", ["master", "team_admin", "member", "viewer", "auditor"])
def test_immutable_fields_are_bad_requests_for_everyone(actor_name: str, field: str) -> None:
    actor = ACTORS[actor_name]
    with pytest.raises(InvalidRequestError) as caught:
        check_fields(actor, ObjectKind.KEY, {field, "name"}, team_id=T, owner_user_id=actor.user_id)
    assert caught.value.http_status == 400
    assert caught.value.param == field


KEY_ADMIN = {"name", "allowed_models", "enabled", "expires_at", "metadata", "limits", "budgets", "project_id", "role"}


@pytest.mark.parametrize(
    ("actor_name", "kind", "fields", "owner", "outcome"),
    [
        ("master", ObjectKind.KEY, {*KEY_ADMIN, "team_id", "user_id", "service_principal_id"}, "other", "ok"),
        ("org_admin", ObjectKind.CREDENTIAL, {"name", "secret"}, "other", "ok"),
        ("org_admin", ObjectKind.USER, {"org_role", "email"}, "other", "ok"),
        ("team_admin", ObjectKind.KEY, KEY_ADMIN, "other", "ok"),
        ("team_admin", ObjectKind.KEY, {"name", "team_id"}, "other", "403"),
        ("team_admin", ObjectKind.KEY, {"user_id"}, "other", "403"),
        ("team_admin", ObjectKind.PROJECT, {"name", "metadata"}, "other", "ok"),
        ("team_admin", ObjectKind.PROJECT, {"team_id"}, "other", "403"),
        ("team_admin", ObjectKind.TEAM, {"name", "metadata"}, "other", "ok"),
        ("team_admin", ObjectKind.TEAM, {"budgets"}, "other", "403"),
        ("team_admin", ObjectKind.SERVICE_PRINCIPAL, {"name", "kind", "project_id"}, "other", "ok"),
        ("team_admin", ObjectKind.SERVICE_PRINCIPAL, {"team_id"}, "other", "403"),
        ("team_admin", ObjectKind.MEMBERSHIP, {"role"}, "other", "ok"),
        ("team_admin", ObjectKind.MEMBERSHIP, {"user_id"}, "other", "403"),
        ("team_admin", ObjectKind.CREDENTIAL, {"name"}, "other", "403"),
        ("admin_key", ObjectKind.KEY, {"role", "allowed_models"}, "other", "ok"),
        ("member", ObjectKind.KEY, {"name", "metadata", "enabled"}, "own", "ok"),
        ("member", ObjectKind.KEY, {"name", "allowed_models"}, "own", "403"),
        ("member", ObjectKind.KEY, {"role"}, "own", "403"),
        ("member", ObjectKind.KEY, {"expires_at"}, "own", "403"),
        ("member", ObjectKind.KEY, {"name"}, "other", "403"),
        ("member_key", ObjectKind.KEY, {"name"}, "own", "403"),
        ("member", ObjectKind.PROJECT, {"name"}, "other", "403"),
        ("viewer", ObjectKind.KEY, {"name"}, "own", "403"),
        ("viewer", ObjectKind.KEY, set(), "own", "403"),
        ("auditor", ObjectKind.KEY, {"name"}, "other", "403"),
        ("outsider", ObjectKind.KEY, {"name"}, "other", "404"),
    ],
)
def test_field_rules(actor_name: str, kind: ObjectKind, fields: set[str], owner: str, outcome: str) -> None:
    actor = ACTORS[actor_name]
    owner_user_id = actor.user_id if owner == "own" else "someone-else"
    run(actor, outcome, check_fields, actor, kind, fields, team_id=T, owner_user_id=owner_user_id)


def test_forbidden_fields_are_named_not_ignored() -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        check_fields(ACTORS["team_admin"], ObjectKind.KEY, {"name", "team_id", "user_id"}, team_id=T)
    assert "team_id, user_id" in caught.value.message
    assert caught.value.param == "team_id"
    member = ACTORS["member"]
    with pytest.raises(PermissionDeniedError) as own:
        check_fields(member, ObjectKind.KEY, {"limits", "name", "role"}, team_id=T, owner_user_id="me")
    assert "limits, role" in own.value.message


def test_admin_change_records_have_no_updatable_fields() -> None:
    with pytest.raises(ValueError):
        check_fields(ACTORS["master"], ObjectKind.ADMIN_CHANGE, {"name"}, team_id=None)


# --- the master key --------------------------------------------------------------------------------------------


def test_master_key_does_everything() -> None:
    master = ACTORS["master"]
    for kind, actions in RIGHTS.items():
        for action in actions:
            for team_id in (None, T, OTHER):
                authorize(master, action, kind, team_id=team_id)
    assert visible_teams(master) is None
    grant_key(master, Role.TEAM_ADMIN, team_id=OTHER, allowed_models=None, expires_at=None)
    check_role_grant(master, team_id=None, role=Role.ORG_ADMIN)
    check_fields(master, ObjectKind.KEY, {"team_id", "role", "user_id"}, team_id=T)
