"""FakeOidc checked on its own with plain aiohttp and PyJWT (not wardgate.identity, which it exists to test):
discovery, JWKS with rotation, /authorize and /token with client authentication and PKCE, token helpers."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import pytest
from yarl import URL

from wardgate.testing.fake_oidc import FakeOidc

REDIRECT = "http://127.0.0.1:4000/callback"


@pytest.fixture
async def idp() -> AsyncIterator[FakeOidc]:
    async with FakeOidc(redirect_uris=[REDIRECT]) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200
        return await response.json()


async def verify(http: aiohttp.ClientSession, idp: FakeOidc, token: str, **kwargs: Any) -> dict[str, Any]:
    keys = {key["kid"]: jwt.PyJWK(key) for key in (await get_json(http, idp.url + "/jwks"))["keys"]}
    header = jwt.get_unverified_header(token)
    claims: dict[str, Any] = jwt.decode(
        token, keys[header["kid"]], algorithms=[header["alg"]], audience=idp.client_id, issuer=idp.url, **kwargs
    )
    return claims


def challenge_for(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def authorize(http: aiohttp.ClientSession, idp: FakeOidc, **overrides: str) -> tuple[int, dict[str, str]]:
    params = {
        "response_type": "code",
        "client_id": idp.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge_for("v" * 50),
        "code_challenge_method": "S256",
        **overrides,
    }
    params = {name: value for name, value in params.items() if value != ""}
    async with http.get(idp.url + "/authorize", params=params, allow_redirects=False) as response:
        location = response.headers.get("Location")
        return response.status, dict(URL(location).query) if location else await response.json()


async def exchange(
    http: aiohttp.ClientSession, idp: FakeOidc, code: str, *, basic: bool = True, **form: str
) -> tuple[int, dict[str, Any]]:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": "v" * 50}
    headers = {}
    if basic:
        pair = f"{quote(idp.client_id, safe='')}:{quote(idp.client_secret or '', safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    async with http.post(idp.url + "/token", data={**data, **form}, headers=headers) as response:
        return response.status, await response.json()


async def test_discovery_describes_the_fake(idp: FakeOidc, http: aiohttp.ClientSession) -> None:
    document = await get_json(http, idp.url + "/.well-known/openid-configuration")
    assert document["issuer"] == idp.url == idp.issuer
    assert document["jwks_uri"] == idp.url + "/jwks" and document["token_endpoint"] == idp.url + "/token"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert idp.hits["/.well-known/openid-configuration"] == 1


async def test_jwks_rotation_and_dropping(idp: FakeOidc, http: aiohttp.ClientSession) -> None:
    kids = [key["kid"] for key in (await get_json(http, idp.url + "/jwks"))["keys"]]
    assert kids == ["rsa-1", "ec-1"] and idp.jwks_requests == 1
    new_kid = idp.rotate_keys()
    assert new_kid == idp.current_kid == "rsa-2" and idp.published_kids == ["rsa-1", "ec-1", "rsa-2"]
    assert (await verify(http, idp, idp.issue_token()))["sub"] == "alice"  # signed with rsa-2
    idp.drop_old_keys()
    assert idp.published_kids == ["rsa-2", "ec-1"]
    dropped = idp.issue_token(kid="rsa-1")  # still signs, for "dropped key" tests
    assert jwt.get_unverified_header(dropped)["kid"] == "rsa-1"
    with pytest.raises(KeyError):
        await verify(http, idp, dropped)
    assert jwt.decode(dropped, idp.public_key_pem("rsa-1"), algorithms=["RS256"], audience=idp.client_id)


async def test_issue_token_options(idp: FakeOidc, http: aiohttp.ClientSession) -> None:
    claims = await verify(http, idp, idp.issue_token({"groups": ["a"], "email": None}, not_before=-5, expires_in=60))
    assert claims["groups"] == ["a"] and "email" not in claims and claims["nbf"] <= time.time()
    assert 55 <= claims["exp"] - time.time() <= 61
    assert (await verify(http, idp, idp.issue_token(algorithm="ES256")))["sub"] == "alice"
    multi = await verify(http, idp, idp.issue_token(audience=[idp.client_id, "other"]))
    assert multi["aud"] == [idp.client_id, "other"]
    unknown = idp.issue_token(kid="made-up")
    assert jwt.get_unverified_header(unknown)["kid"] == "made-up"
    unsigned = idp.issue_token(algorithm="none")
    assert unsigned.endswith(".") and jwt.get_unverified_header(unsigned)["alg"] == "none"
    with pytest.raises(ValueError):
        idp.issue_token(kid="ec-1", algorithm="RS256")


async def test_authorize_then_token_with_pkce(idp: FakeOidc, http: aiohttp.ClientSession) -> None:
    idp.set_user("bob", "bob@example.com", groups=["research"], roles=["gw-admins"], locale="fr")
    status, query = await authorize(http, idp)
    assert status == 302 and query["state"] == "st-1" and query["code"]
    status, answer = await exchange(http, idp, query["code"])
    assert status == 200 and answer["token_type"] == "Bearer" and answer["access_token"]
    claims = await verify(http, idp, answer["id_token"])
    assert (claims["sub"], claims["email"], claims["groups"], claims["roles"]) == (
        "bob",
        "bob@example.com",
        ["research"],
        ["gw-admins"],
    )
    assert claims["nonce"] == "n-1" and claims["azp"] == idp.client_id and claims["locale"] == "fr"
    assert idp.last_client_auth == "client_secret_basic"
    status, answer = await exchange(http, idp, query["code"])
    assert (status, answer["error"]) == (400, "invalid_grant")  # a code is single use


async def test_token_endpoint_checks_pkce_and_client(idp: FakeOidc, http: aiohttp.ClientSession) -> None:
    _, query = await authorize(http, idp)
    status, answer = await exchange(http, idp, query["code"], code_verifier="w" * 50)
    assert (status, answer["error"], answer["error_description"]) == (400, "invalid_grant", "PKCE verification failed.")
    _, query = await authorize(http, idp)
    status, answer = await exchange(http, idp, query["code"], basic=False, client_id=idp.client_id)
    assert (status, answer["error"]) == (401, "invalid_client")  # a confidential client must authenticate
    _, query = await authorize(http, idp)
    form = {"client_id": idp.client_id, "client_secret": idp.client_secret or ""}
    status, answer = await exchange(http, idp, query["code"], basic=False, **form)
    assert status == 200 and idp.last_client_auth == "client_secret_post"
    _, query = await authorize(http, idp)
    status, answer = await exchange(http, idp, query["code"], redirect_uri="http://127.0.0.1:4000/other")
    assert (status, answer["error"]) == (400, "invalid_grant")


async def test_authorize_refusals(idp: FakeOidc, http: aiohttp.ClientSession) -> None:
    status, body = await authorize(http, idp, client_id="intruder")
    assert (status, body["error"]) == (400, "invalid_client")  # no redirect for an unknown client
    status, body = await authorize(http, idp, redirect_uri="https://evil.example/cb")
    assert (status, body["error"]) == (400, "invalid_request")
    status, query = await authorize(http, idp, code_challenge="")
    assert (status, query["error"], query["state"]) == (302, "invalid_request", "st-1")
    status, query = await authorize(http, idp, code_challenge_method="plain")
    assert query["error"] == "invalid_request"
    status, query = await authorize(http, idp, response_type="token")
    assert query["error"] == "unsupported_response_type"
    idp.login_error = "access_denied"
    status, query = await authorize(http, idp)
    assert (status, query["error"]) == (302, "access_denied") and "code" not in query


def test_runs_in_a_thread_for_sync_callers() -> None:
    fake = FakeOidc(client_secret=None)
    with fake.run_in_thread() as running:
        with urllib.request.urlopen(running.url + "/jwks", timeout=5) as response:
            keys = json.load(response)["keys"]
        assert {key["kid"] for key in keys} == {"rsa-1", "ec-1"}
        token = fake.issue_token({"jti": secrets.token_hex(4)})
        assert jwt.decode(token, fake.public_key_pem(), algorithms=["RS256"], audience=fake.client_id)
        assert fake.jwks_requests == 1 and fake.request_count == 1
