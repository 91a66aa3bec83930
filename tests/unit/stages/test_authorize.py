"""Model restrictions: the authorize stage (allowed, denied, denied through an alias, allowed through an alias, an
alias on the key's side), unknown models still 404, the route table's aliases and cached canonical sets, and the
config rules for aliases."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from wardgate.config.schema import GatewayConfig
from wardgate.core.errors import ModelNotFoundError, PermissionDeniedError
from wardgate.core.types import Endpoint, Principal, ProxyRequest, ProxyResponse, RequestContext, Role
from wardgate.routing.table import RouteTable
from wardgate.stages.authorize import authorize, check_model_allowed

MODELS = [
    {"name": "gpt-4o", "aliases": ["smart", "gpt-4o-2024"], "deployments": [{"provider": "p", "model": "gpt-4o"}]},
    {"name": "gpt-4o-mini", "aliases": ["fast"], "deployments": [{"provider": "p", "model": "gpt-4o-mini"}]},
    {"name": "claude", "deployments": [{"provider": "p", "model": "claude-x"}]},
]


def config(models: list[dict[str, Any]] | None = None) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {"providers": [{"name": "p", "type": "simulated"}], "models": MODELS if models is None else models}
    )


@pytest.fixture
def routes() -> RouteTable:
    return RouteTable.build(config(), {"p": object()})  # type: ignore[dict-item]  # deployments are not called


def key(*models: str) -> Principal:
    return Principal(key_id="key_1", kind="key", teams={"t": Role.MEMBER}, allowed_models=frozenset(models))


class Next:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        self.calls += 1
        return ProxyResponse(body=b"{}")


async def run(routes: RouteTable, principal: Principal | None, model: str) -> int:
    ctx = RequestContext("req", SimpleNamespace(routes=routes), {}, None, 0.0, principal=principal)
    request = ProxyRequest(Endpoint.CHAT, b"{}", model=model)
    nxt = Next()
    await authorize(ctx, request, nxt)
    return nxt.calls


@pytest.mark.parametrize(
    ("allowed", "requested"),
    [
        (("gpt-4o",), "gpt-4o"),
        (("gpt-4o",), "smart"),  # an alias of an allowed model
        (("gpt-4o",), "gpt-4o-2024"),
        (("smart",), "gpt-4o"),  # the key lists an alias; the canonical name is the same model
        (("fast", "claude"), "claude"),
    ],
)
async def test_allowed(routes: RouteTable, allowed: tuple[str, ...], requested: str) -> None:
    assert await run(routes, key(*allowed), requested) == 1


@pytest.mark.parametrize(
    ("allowed", "requested"),
    [
        (("gpt-4o-mini", "claude"), "gpt-4o"),
        (("gpt-4o-mini", "claude"), "smart"),  # B reached through an alias
        (("fast",), "gpt-4o-2024"),
        (("not-configured",), "claude"),
        ((), "gpt-4o"),
    ],
)
async def test_denied(routes: RouteTable, allowed: tuple[str, ...], requested: str) -> None:
    principal = key(*allowed)
    with pytest.raises(PermissionDeniedError) as info:
        await run(routes, principal, requested)
    error = info.value
    assert error.http_status == 403 and error.code == "model_not_allowed" and error.param == "model"
    assert f"`{requested}`" in error.message
    for other in principal.allowed_models or ():
        assert other not in error.message  # never lists what the key may call


async def test_unknown_models_are_still_404(routes: RouteTable) -> None:
    with pytest.raises(ModelNotFoundError):
        await run(routes, key("gpt-4o"), "no-such-model")


@pytest.mark.parametrize("principal", [None, Principal(key_id="master"), Principal(key_id="k", kind="key")])
async def test_unrestricted_principals_pass_without_lookups(principal: Principal | None) -> None:
    assert await run(RouteTable({}), principal, "anything") == 1  # no resolve: unknown models fail later, in routing


def test_check_model_allowed_for_other_routes(routes: RouteTable) -> None:
    check_model_allowed(key("fast"), routes, "gpt-4o-mini")
    check_model_allowed(None, routes, "whatever")
    with pytest.raises(PermissionDeniedError):
        check_model_allowed(key("fast"), routes, "claude")


# --- route table -----------------------------------------------------------------------------------------------


def test_route_table_resolves_aliases_to_the_canonical_route(routes: RouteTable) -> None:
    assert routes.resolve("smart") is routes.resolve("gpt-4o")
    assert routes.resolve("gpt-4o-2024").name == "gpt-4o"
    assert routes.get("fast") is routes.resolve("gpt-4o-mini")
    assert routes.get("nope") is None
    assert [route.name for route in routes] == ["gpt-4o", "gpt-4o-mini", "claude"]  # aliases are not listed
    assert len(routes) == 3


def test_canonical_names_are_cached_per_set(routes: RouteTable) -> None:
    allowed = frozenset({"smart", "fast", "unknown"})
    first = routes.canonical_names(allowed)
    assert first == frozenset({"gpt-4o", "gpt-4o-mini"})
    assert routes.canonical_names(frozenset({"fast", "smart", "unknown"})) is first


# --- config ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            [
                {"name": "a", "aliases": ["x"], "deployments": [{"provider": "p", "model": "a"}]},
                {"name": "b", "aliases": ["x"], "deployments": [{"provider": "p", "model": "b"}]},
            ],
            "models[1].aliases[0]: the name 'x' is already taken by model 'a'",
        ),
        (
            [
                {"name": "a", "deployments": [{"provider": "p", "model": "a"}]},
                {"name": "b", "aliases": ["a"], "deployments": [{"provider": "p", "model": "b"}]},
            ],
            "models[1].aliases[0]: the name 'a' is already taken by model 'a'",
        ),
        (
            [
                {"name": "a", "aliases": ["b"], "deployments": [{"provider": "p", "model": "a"}]},
                {"name": "b", "deployments": [{"provider": "p", "model": "b"}]},
            ],
            "models[1].name: the name 'b' is already taken by model 'a'",
        ),
        (
            [{"name": "a", "aliases": ["a"], "deployments": [{"provider": "p", "model": "a"}]}],
            "models[0].aliases[0]: the name 'a' is already taken by model 'a'",
        ),
        (
            [
                {"name": "a", "deployments": [{"provider": "p", "model": "a"}]},
                {"name": "a", "deployments": [{"provider": "p", "model": "b"}]},
            ],
            "models[1].name: duplicate model name 'a'",
        ),
    ],
    ids=["alias-twice", "alias-is-a-name", "name-is-an-alias", "alias-of-itself", "duplicate-name"],
)
def test_every_name_picks_one_model(models: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config(models)


def test_alias_names_follow_the_name_pattern() -> None:
    with pytest.raises(ValidationError, match="aliases"):
        config([{"name": "a", "aliases": ["bad name!"], "deployments": [{"provider": "p", "model": "a"}]}])


@pytest.mark.parametrize(
    ("principal", "allowed"),
    [
        (Principal("user:a", kind="session", teams={"team_1": Role.MEMBER}), True),
        (Principal("user:a", kind="jwt", teams={"team_1": Role.TEAM_ADMIN}), True),
        (Principal("user:a", kind="jwt", org_role=Role.ORG_ADMIN), True),
        (Principal("user:a", kind="session"), False),
        (Principal("user:a", kind="jwt", teams={"team_1": Role.VIEWER}), False),
        (Principal("user:a", kind="session", org_role=Role.AUDITOR), False),
        (Principal("key_1", kind="key", teams={"team_1": Role.VIEWER}), True),  # keys are governed by their models
    ],
)
async def test_people_call_models_only_as_team_members(routes: RouteTable, principal: Principal, allowed: bool) -> None:
    if allowed:
        assert await run(routes, principal, "gpt-4o") == 1
    else:
        with pytest.raises(PermissionDeniedError) as raised:
            await run(routes, principal, "gpt-4o")
        assert raised.value.code == "no_team_membership"
