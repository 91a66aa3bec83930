"""``wardgate teams|projects|users|members|service-principals``: the organisation structure through a running
gateway's admin API (``--url`` / ``WARDGATE_URL``, ``WARDGATE_ADMIN_KEY``), printed as tables or, with ``--json``,
as the API's JSON. ``--team`` takes a team's name or id (names are looked up through the team list); ``--user``
takes a user id or email. ``teams create|update`` and ``projects create|update`` take the rate-limit and budget
options of ``cli.limits`` (a team's limits and budget are for org admins; a team admin sets its projects');
``show`` prints them."""

from __future__ import annotations

from typing import Any

import click

from wardgate.cli.admin_client import AdminClient, connection_options, fail, show
from wardgate.cli.base import main
from wardgate.cli.limits import LimitChange, limit_options, with_described_limits

TEAM_COLUMNS = ("id", "name", "limits", "budgets", "metadata", "created_at")
PROJECT_COLUMNS = ("id", "name", "team_id", "limits", "budgets", "metadata", "created_at")
USER_COLUMNS = ("id", "email", "name", "org_role", "disabled", "created_at")
MEMBER_COLUMNS = ("user_id", "email", "name", "role", "disabled")
PRINCIPAL_COLUMNS = ("id", "name", "kind", "team_id", "project_id", "created_at")
TEAM_ROLES = ("team_admin", "member", "viewer")
ORG_ROLES = ("org_admin", "auditor")
TEAM_HELP = "Team name or id."


def fetch_all(client: AdminClient, path: str, **query: Any) -> dict[str, Any]:
    """Every page of a list route, as one list envelope."""
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = client.get(path, **query, limit=1000, after=after)
        rows += page["data"]
        after = page["last_id"]
        if not page["has_more"]:
            return {"object": "list", "data": rows}


def team_id(client: AdminClient, ref: str) -> str:
    """A team's id from its name (through ``GET /teams?name=``) or its id."""
    found = client.get("/teams", name=ref)["data"]
    if found:
        return str(found[0]["id"])
    if ref.startswith("team_"):
        return ref
    return str(fail(f"no team named {ref!r} that you can see"))


def user_id(client: AdminClient, ref: str) -> str:
    """A user's id from its email (through ``GET /users?email=``) or its id."""
    if "@" not in ref:
        return ref
    found = client.get("/users", email=ref)["data"]
    if not found:
        return str(fail(f"no user with email {ref!r} that you can see"))
    return str(found[0]["id"])


def show_rows(data: dict[str, Any], columns: tuple[str, ...], *, as_json: bool, title: str) -> None:
    """A list envelope or one object as a table whose ``limits`` read ``rpm=600 tpm=…``, or as the API's JSON."""
    if not as_json:
        rows = data["data"] if data.get("object") == "list" else [data]
        data = {"object": "list", "data": with_described_limits(rows)}
    show(data, columns, as_json=as_json, title=title)


def update_body(limits: LimitChange, current: Any, **fields: Any) -> dict[str, Any]:
    """A PATCH body from options (None: unchanged); ``current`` fetches the object when limits change."""
    body = {name: value for name, value in fields.items() if value is not None}
    if not limits.empty:
        body.update(limits.patch(current()))
    if not body:
        raise click.UsageError("nothing to change")
    return body


def created_fields(limits: LimitChange) -> dict[str, Any]:
    """The ``limits`` and ``budgets`` of a new team or project, those the options set."""
    made = {"limits": limits.created(), "budgets": limits.created_budget()}
    return {name: value for name, value in made.items() if value}


def show_one(item: dict[str, Any], as_json: bool) -> None:
    """One object: JSON, or a two-column field/value table."""
    if as_json:
        show(item, (), as_json=True)
        return
    show([{"field": name, "value": value} for name, value in item.items()], ("field", "value"), as_json=False)


# --- teams ------------------------------------------------------------------------------------------------------


@main.group("teams")
def teams_group() -> None:
    """Teams: list, create, show, update, delete."""


@teams_group.command("list")
@connection_options
def list_teams(url: str | None, as_json: bool) -> None:
    """List the teams you can see."""
    show_rows(fetch_all(AdminClient(url), "/teams"), TEAM_COLUMNS, as_json=as_json, title="Teams")


@teams_group.command("create")
@click.argument("name")
@limit_options
@connection_options
def create_team(name: str, url: str | None, as_json: bool, limits: LimitChange) -> None:
    """Create the team NAME (org admins), optionally with rate limits and a budget."""
    body: dict[str, Any] = {"name": name, **created_fields(limits)}
    show_rows(AdminClient(url).post("/teams", body), TEAM_COLUMNS, as_json=as_json, title="Created team")


@teams_group.command("update")
@click.argument("team")
@click.option("--name", default=None, help="A new name.")
@limit_options
@connection_options
def update_team(team: str, name: str | None, url: str | None, as_json: bool, limits: LimitChange) -> None:
    """Rename TEAM (a name or id) or change its rate limits or budget (those: org admins only)."""
    client = AdminClient(url)
    path = f"/teams/{team_id(client, team)}"
    show_one(client.patch(path, update_body(limits, lambda: client.get(path), name=name)), as_json)


@teams_group.command("show")
@click.argument("team")
@connection_options
def show_team(team: str, url: str | None, as_json: bool) -> None:
    """Show TEAM (a name or id)."""
    client = AdminClient(url)
    show_one(client.get(f"/teams/{team_id(client, team)}"), as_json)


@teams_group.command("delete")
@click.argument("team")
@connection_options
def delete_team(team: str, url: str | None, as_json: bool) -> None:
    """Delete TEAM (a name or id); refused while it has keys, projects or service principals."""
    client = AdminClient(url)
    answer = client.delete(f"/teams/{team_id(client, team)}")
    if as_json:
        show(answer, (), as_json=True)
    else:
        click.echo(f"Deleted team {answer['id']}.")


# --- projects ---------------------------------------------------------------------------------------------------


@main.group("projects")
def projects_group() -> None:
    """Projects of a team: list, create, show, update."""


@projects_group.command("list")
@click.option("--team", required=True, help=TEAM_HELP)
@connection_options
def list_projects(team: str, url: str | None, as_json: bool) -> None:
    """List a team's projects."""
    client = AdminClient(url)
    rows = fetch_all(client, f"/teams/{team_id(client, team)}/projects")
    show_rows(rows, PROJECT_COLUMNS, as_json=as_json, title="Projects")


@projects_group.command("create")
@click.option("--team", required=True, help=TEAM_HELP)
@click.argument("name")
@limit_options
@connection_options
def create_project(team: str, name: str, url: str | None, as_json: bool, limits: LimitChange) -> None:
    """Create the project NAME in a team, optionally with rate limits and a budget (team admins)."""
    client = AdminClient(url)
    body: dict[str, Any] = {"name": name, **created_fields(limits)}
    created = client.post(f"/teams/{team_id(client, team)}/projects", body)
    show_rows(created, PROJECT_COLUMNS, as_json=as_json, title="Created project")


@projects_group.command("show")
@click.argument("project_id")
@connection_options
def show_project(project_id: str, url: str | None, as_json: bool) -> None:
    """Show one project (by id), its limits included."""
    show_one(AdminClient(url).get(f"/projects/{project_id}"), as_json)


@projects_group.command("update")
@click.argument("project_id")
@click.option("--name", default=None, help="A new name.")
@limit_options
@connection_options
def update_project(project_id: str, name: str | None, url: str | None, as_json: bool, limits: LimitChange) -> None:
    """Rename a project (by id) or change its rate limits or budget (team admins)."""
    client = AdminClient(url)
    path = f"/projects/{project_id}"
    show_one(client.patch(path, update_body(limits, lambda: client.get(path), name=name)), as_json)


# --- users ------------------------------------------------------------------------------------------------------


@main.group("users")
def users_group() -> None:
    """People: list, create."""


@users_group.command("list")
@connection_options
def list_users(url: str | None, as_json: bool) -> None:
    """List users (org admins and auditors see everyone, others themselves)."""
    show(fetch_all(AdminClient(url), "/users"), USER_COLUMNS, as_json=as_json, title="Users")


@users_group.command("create")
@click.option("--email", required=True)
@click.option("--name", default=None, help="Display name.")
@click.option("--org-role", type=click.Choice(ORG_ROLES), default=None, help="An org-wide role (org admins grant it).")
@connection_options
def create_user(email: str, name: str | None, org_role: str | None, url: str | None, as_json: bool) -> None:
    """Create a user (org admins)."""
    body = {"email": email, "name": name, "org_role": org_role}
    created = AdminClient(url).post("/users", {k: v for k, v in body.items() if v is not None})
    show(created, USER_COLUMNS, as_json=as_json, title="Created user")


# --- members ----------------------------------------------------------------------------------------------------


@main.group("members")
def members_group() -> None:
    """Team memberships: list, add, remove."""


@members_group.command("list")
@click.option("--team", required=True, help=TEAM_HELP)
@connection_options
def list_members(team: str, url: str | None, as_json: bool) -> None:
    """List a team's members."""
    client = AdminClient(url)
    rows = fetch_all(client, f"/teams/{team_id(client, team)}/members")
    show(rows, MEMBER_COLUMNS, as_json=as_json, title="Members")


@members_group.command("add")
@click.option("--team", required=True, help=TEAM_HELP)
@click.option("--user", required=True, help="User id or email.")
@click.option("--role", required=True, type=click.Choice(TEAM_ROLES))
@connection_options
def add_member(team: str, user: str, role: str, url: str | None, as_json: bool) -> None:
    """Give a user a role in a team (team admins, up to their own role)."""
    client = AdminClient(url)
    path = f"/teams/{team_id(client, team)}/members"
    added = client.post(path, {"user_id": user_id(client, user), "role": role})
    show(added, MEMBER_COLUMNS, as_json=as_json, title="Added member")


@members_group.command("remove")
@click.option("--team", required=True, help=TEAM_HELP)
@click.option("--user", required=True, help="User id or email.")
@connection_options
def remove_member(team: str, user: str, url: str | None, as_json: bool) -> None:
    """Remove a user from a team."""
    client = AdminClient(url)
    answer = client.delete(f"/teams/{team_id(client, team)}/members/{user_id(client, user)}")
    if as_json:
        show(answer, (), as_json=True)
    else:
        click.echo(f"Removed {answer['user_id']} from {answer['team_id']}.")


# --- service principals -----------------------------------------------------------------------------------------


@main.group("service-principals")
def principals_group() -> None:
    """Apps and agents of a team: list, create."""


@principals_group.command("list")
@click.option("--team", required=True, help=TEAM_HELP)
@connection_options
def list_principals(team: str, url: str | None, as_json: bool) -> None:
    """List a team's service principals."""
    client = AdminClient(url)
    rows = fetch_all(client, f"/teams/{team_id(client, team)}/service-principals")
    show(rows, PRINCIPAL_COLUMNS, as_json=as_json, title="Service principals")


@principals_group.command("create")
@click.option("--team", required=True, help=TEAM_HELP)
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(("app", "agent")))
@click.option("--project", default=None, help="Project id.")
@connection_options
def create_principal(team: str, name: str, kind: str, project: str | None, url: str | None, as_json: bool) -> None:
    """Create the app or agent NAME in a team (team admins)."""
    client = AdminClient(url)
    body = {"name": name, "kind": kind, **({"project_id": project} if project else {})}
    created = client.post(f"/teams/{team_id(client, team)}/service-principals", body)
    show(created, PRINCIPAL_COLUMNS, as_json=as_json, title="Created service principal")
