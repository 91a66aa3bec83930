"""Tests of client authentication: where the key may be sent, refusals, verification against the master key hash,
and the pipeline stage. (Virtual keys, JWTs and sessions: tests/unit/identity/test_identity_authenticator.py.)"""

from __future__ import annotations

import pytest

from wardgate.core.errors import AuthenticationError
from wardgate.core.keys import hash_key
from wardgate.core.types import Endpoint, Principal, ProxyRequest, ProxyResponse, RequestContext, Role
from wardgate.identity.authenticator import Authenticator
from wardgate.stages.authenticate import make_authenticate, presented_key

MASTER = "wg-master-0123456789abcdef"
OTHER = "wg-other-fedcba9876543210"


MASTER_PRINCIPAL = Principal(key_id="master", kind="master", org_role=Role.ORG_ADMIN)


@pytest.fixture
def verifier() -> Authenticator:
    return Authenticator(hash_key(MASTER))


def make_ctx(headers: dict[str, str]) -> RequestContext:
    return RequestContext(request_id="req-1", snapshot=None, headers=headers, client="127.0.0.1", started=0.0)


# --- presented_key --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {MASTER}"},
        {"authorization": f"bearer {MASTER}"},
        {"authorization": f"BEARER {MASTER}"},
        {"authorization": f"Bearer   {MASTER}  "},
        {"x-api-key": MASTER},
        {"api-key": MASTER},
        {"x-api-key": f" {MASTER} "},
        {"authorization": f"Bearer {MASTER}", "x-api-key": MASTER},
        {"authorization": f"Bearer {MASTER}", "x-api-key": MASTER, "api-key": MASTER},
        {"x-api-key": MASTER, "api-key": MASTER, "content-type": "application/json"},
    ],
    ids=[
        "bearer",
        "bearer-lower",
        "bearer-upper",
        "bearer-padded",
        "x-api-key",
        "api-key",
        "x-api-key-padded",
        "two-same",
        "three-same",
        "unrelated-header",
    ],
)
def test_presented_key_from_any_supported_header(headers: dict[str, str]) -> None:
    assert presented_key(headers) == MASTER


@pytest.mark.parametrize("headers", [{}, {"content-type": "application/json"}, {"cookie": f"key={MASTER}"}])
def test_presented_key_absent(headers: dict[str, str]) -> None:
    assert presented_key(headers) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": f"Bearer {MASTER}", "x-api-key": OTHER},
        {"authorization": f"Bearer {MASTER}", "api-key": OTHER},
        {"x-api-key": MASTER, "api-key": OTHER},
        {"authorization": f"Bearer {MASTER}", "x-api-key": MASTER, "api-key": OTHER},
    ],
    ids=["bearer-vs-x-api-key", "bearer-vs-api-key", "x-api-key-vs-api-key", "third-differs"],
)
def test_conflicting_keys_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError, match="Different API keys"):
        presented_key(headers)


@pytest.mark.parametrize(
    "value",
    [f"Basic {MASTER}", MASTER, "Bearer", "Bearer ", "Bearer    ", "", f"Token {MASTER}", f"Bearer\t{MASTER}"],
    ids=["basic", "no-scheme", "scheme-only", "scheme-space", "blank-token", "empty", "token-scheme", "tab"],
)
def test_malformed_authorization_is_refused(value: str) -> None:
    with pytest.raises(AuthenticationError, match="Bearer <key>"):
        presented_key({"authorization": value})


def test_malformed_authorization_is_refused_even_with_a_valid_x_api_key() -> None:
    with pytest.raises(AuthenticationError):
        presented_key({"authorization": f"Basic {MASTER}", "x-api-key": MASTER})


# --- Authenticator (master key) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{"authorization": f"Bearer {MASTER}"}, {"x-api-key": MASTER}, {"api-key": MASTER}],
    ids=["bearer", "x-api-key", "api-key"],
)
async def test_master_key_is_accepted_in_every_header(verifier: Authenticator, headers: dict[str, str]) -> None:
    principal = await verifier.authenticate(headers)
    assert principal == MASTER_PRINCIPAL


@pytest.mark.parametrize(
    "key",
    [OTHER, MASTER[:-1], MASTER + "x", MASTER.upper(), hash_key(MASTER)],
    ids=["other", "prefix", "longer", "case", "the-hash-itself"],
)
@pytest.mark.parametrize("header", ["x-api-key", "api-key", "authorization"])
async def test_wrong_key_is_refused(verifier: Authenticator, header: str, key: str) -> None:
    value = f"Bearer {key}" if header == "authorization" else key
    with pytest.raises(AuthenticationError) as info:
        await verifier.authenticate({header: value})
    assert info.value.http_status == 401
    assert info.value.code == "invalid_api_key"
    assert key not in info.value.message
    assert MASTER not in info.value.message


@pytest.mark.parametrize("headers", [{}, {"x-api-key": ""}, {"api-key": "   "}], ids=["none", "empty", "blank"])
async def test_missing_key(verifier: Authenticator, headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError) as info:
        await verifier.authenticate(headers)
    assert info.value.code == "missing_api_key"
    assert info.value.http_status == 401
    assert info.value.to_dict()["error"]["type"] == "authentication_error"


async def test_conflicting_keys_are_refused_even_if_one_is_right(verifier: Authenticator) -> None:
    with pytest.raises(AuthenticationError) as info:
        await verifier.authenticate({"authorization": f"Bearer {MASTER}", "x-api-key": OTHER})
    assert info.value.code == "invalid_api_key"


# --- the stage ------------------------------------------------------------------------------------------------


class FakeNext:
    def __init__(self) -> None:
        self.calls: list[tuple[RequestContext, ProxyRequest]] = []
        self.response = ProxyResponse(status=200, body=b'{"ok":true}')

    async def __call__(self, ctx: RequestContext, request: ProxyRequest) -> ProxyResponse:
        self.calls.append((ctx, request))
        return self.response


async def test_stage_sets_principal_and_calls_next(verifier: Authenticator) -> None:
    stage, nxt = make_authenticate(verifier), FakeNext()
    ctx = make_ctx({"authorization": f"Bearer {MASTER}"})
    request = ProxyRequest(endpoint=Endpoint.CHAT, raw=b"{}")
    response = await stage(ctx, request, nxt)
    assert response is nxt.response
    assert nxt.calls == [(ctx, request)]
    assert ctx.principal == MASTER_PRINCIPAL


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"x-api-key": OTHER}, "invalid_api_key"),
        ({"authorization": f"Basic {MASTER}"}, "invalid_api_key"),
        ({"x-api-key": MASTER, "api-key": OTHER}, "invalid_api_key"),
    ],
    ids=["missing", "wrong", "malformed", "conflicting"],
)
async def test_stage_refuses_without_calling_next(verifier: Authenticator, headers: dict[str, str], code: str) -> None:
    stage, nxt = make_authenticate(verifier), FakeNext()
    ctx = make_ctx(headers)
    with pytest.raises(AuthenticationError) as info:
        await stage(ctx, ProxyRequest(endpoint=Endpoint.CHAT, raw=b"{}"), nxt)
    assert info.value.code == code
    assert nxt.calls == []
    assert ctx.principal is None
