"""The credential repository on SQLite and PostgreSQL: sealing round trip, the name bound into the ciphertext,
metadata that never holds the secret, rotation, deletes refused while referenced, and master-key rotation
(``rewrap_all``) after which the old key can go."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from wardgate.core.errors import GatewayError, InvalidRequestError, NotFoundError
from wardgate.storage.credentials import (
    CredentialInUseError,
    create_credential,
    delete_credential,
    get_credential,
    list_credentials,
    load_all,
    rewrap_all,
    update_credential,
)
from wardgate.storage.database import Database
from wardgate.storage.schema import credentials
from wardgate.vault import Keyring, Sealed, VaultError, fingerprint, generate_key, open_sealed, parse_key

SECRET = "sk-proj-Zq8wXv3Lm0TnB7rYk2Pd5Hs9"
OTHER = "sk-proj-Ab4Cd6Ef8Gh0Ij2Kl4Mn6Op8"


def keyring(*values: str) -> Keyring:
    keys = [parse_key(value, source="test") for value in values]
    return Keyring(keys[0], keys[1:])


KEY_A, KEY_B = generate_key(), generate_key()


def pieces(secret: str) -> set[str]:
    return {secret[i : i + 8] for i in range(len(secret) - 7)}


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        leaked = [piece for piece in pieces(secret) if piece in text]
        assert not leaked, f"secret pieces in {text[:200]!r}: {leaked}"


async def add(db: Database, ring: Keyring, name: str, secret: str, description: str | None = None) -> None:
    async with db.engine.begin() as conn:
        await create_credential(conn, ring, name=name, secret=secret, description=description, created_by="test")


async def sealed_row(db: Database, name: str) -> tuple[str, str]:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(select(credentials.c.sealed, credentials.c.key_id).where(credentials.c.name == name))
        ).one()
    return str(row[0]), str(row[1])


async def test_create_seals_under_the_current_key_and_shows_only_metadata(database: Database) -> None:
    ring = keyring(KEY_A)
    async with database.engine.begin() as conn:
        info = await create_credential(
            conn, ring, name="openai-prod", secret=SECRET, description="main account", created_by="master"
        )
    assert info.name == "openai-prod"
    assert info.version == 1
    assert info.fingerprint == fingerprint(SECRET)
    assert info.last4 == SECRET[-4:]
    assert info.key_id == ring.current.key_id
    assert info.created_at.tzinfo is not None and info.updated_at == info.created_at
    answer = info.as_dict()
    assert answer["description"] == "main account"
    assert "secret" not in answer and "sealed" not in answer
    assert_no_secret(json.dumps(answer) + repr(info), SECRET)

    sealed_text, key_id = await sealed_row(database, "openai-prod")
    assert key_id == ring.current.key_id
    assert_no_secret(sealed_text, SECRET)
    assert open_sealed(ring, Sealed.from_text(sealed_text), context="openai-prod") == SECRET
    async with database.engine.connect() as conn:
        assert await load_all(conn, ring) == {"openai-prod": SECRET}


async def test_list_and_get_never_contain_the_secret(database: Database) -> None:
    ring = keyring(KEY_A)
    for n in range(5):
        await add(database, ring, f"cred-{n}", f"{SECRET}{n}")
    async with database.engine.connect() as conn:
        first = await list_credentials(conn, limit=3)
        rest = await list_credentials(conn, limit=3, after=first[-1].id)
        one = await get_credential(conn, "cred-2")
        with pytest.raises(NotFoundError):
            await get_credential(conn, "nope")
    assert len(first) == 3 and len(rest) == 2
    assert sorted(i.name for i in first + rest) == [f"cred-{n}" for n in range(5)]
    assert one.name == "cred-2" and one.last4 == (SECRET + "2")[-4:]
    dumped = json.dumps([i.as_dict() for i in first + rest]) + repr(first + rest)
    assert_no_secret(dumped, *(f"{SECRET}{n}" for n in range(5)))


async def test_ciphertext_is_bound_to_the_name(database: Database) -> None:
    ring = keyring(KEY_A)
    await add(database, ring, "a", SECRET)
    await add(database, ring, "b", OTHER)
    a_sealed, _ = await sealed_row(database, "a")
    async with database.engine.begin() as conn:  # someone with database access moves a's secret under b's name
        await conn.execute(update(credentials).where(credentials.c.name == "b").values(sealed=a_sealed))
    async with database.engine.connect() as conn:
        with pytest.raises(VaultError) as info:
            await load_all(conn, ring)
        failures: dict[str, str] = {}
        opened = await load_all(conn, ring, failures=failures)
    assert opened == {"a": SECRET}
    assert set(failures) == {"b"} and "could not be decrypted" in failures["b"]
    assert_no_secret(str(info.value) + json.dumps(failures), SECRET, OTHER)


async def test_duplicate_name_is_a_conflict(database: Database) -> None:
    ring = keyring(KEY_A)
    await add(database, ring, "dup", SECRET)
    with pytest.raises(GatewayError) as info:
        await add(database, ring, "dup", OTHER)
    assert info.value.http_status == 409
    async with database.engine.connect() as conn:
        assert await load_all(conn, ring) == {"dup": SECRET}


async def test_empty_or_huge_secret_is_refused(database: Database) -> None:
    ring = keyring(KEY_A)
    for bad in ("", "   \n", "x" * (64 * 1024 + 1)):
        with pytest.raises(InvalidRequestError):
            await add(database, ring, "bad", bad)


async def test_update_rotates_the_secret_and_bumps_the_version(database: Database) -> None:
    ring = keyring(KEY_A)
    await add(database, ring, "rot", SECRET, "before")
    async with database.engine.begin() as conn:
        before, after = await update_credential(conn, ring, "rot", secret=OTHER)
    assert (before.version, after.version) == (1, 2)
    assert before.fingerprint == fingerprint(SECRET) and after.fingerprint == fingerprint(OTHER)
    assert after.description == "before" and after.updated_at >= before.updated_at
    async with database.engine.begin() as conn:
        _, again = await update_credential(conn, ring, "rot", secret=OTHER, description=None, set_description=True)
        assert again.version == 3 and again.description is None
        assert await load_all(conn, ring) == {"rot": OTHER}
        with pytest.raises(NotFoundError):
            await update_credential(conn, ring, "missing", secret=OTHER)


async def test_delete_is_refused_while_referenced(database: Database) -> None:
    ring = keyring(KEY_A)
    await add(database, ring, "used", SECRET)
    async with database.engine.begin() as conn:
        with pytest.raises(CredentialInUseError) as info:
            await delete_credential(conn, "used", referenced={"used", "other"})
        assert info.value.http_status == 409
    async with database.engine.begin() as conn:
        gone = await delete_credential(conn, "used", referenced={"other"})
        assert gone.name == "used"
        with pytest.raises(NotFoundError):
            await delete_credential(conn, "used", referenced=())
        assert await load_all(conn, ring) == {}


async def test_rewrap_all_moves_every_credential_to_the_new_key(database: Database) -> None:
    old = keyring(KEY_A)
    await add(database, old, "one", SECRET)
    await add(database, old, "two", OTHER)
    async with database.engine.connect() as conn:
        before = {i.name: i for i in await list_credentials(conn)}
    sealed_one, _ = await sealed_row(database, "one")

    new_only = keyring(KEY_B)
    async with database.engine.begin() as conn:  # the old key is needed to unwrap: refused, nothing changed
        with pytest.raises(VaultError) as info:
            await rewrap_all(conn, new_only)
    assert "WARDGATE_SECRET_KEY_PREVIOUS" in str(info.value)
    assert (await sealed_row(database, "one"))[1] == old.current.key_id

    rotating = keyring(KEY_B, KEY_A)
    async with database.engine.begin() as conn:
        assert await rewrap_all(conn, rotating) == 2
    async with database.engine.begin() as conn:
        assert await rewrap_all(conn, rotating) == 0  # idempotent
        after = {i.name: i for i in await list_credentials(conn)}
    for name in ("one", "two"):
        assert after[name].key_id == new_only.current.key_id
        assert after[name].version == before[name].version
        assert after[name].fingerprint == before[name].fingerprint
        assert after[name].updated_at > before[name].updated_at
    new_sealed, _ = await sealed_row(database, "one")
    assert Sealed.from_text(new_sealed).ciphertext == Sealed.from_text(sealed_one).ciphertext  # only re-wrapped

    async with database.engine.connect() as conn:  # the old key removed: everything still opens
        assert await load_all(conn, new_only) == {"one": SECRET, "two": OTHER}
        with pytest.raises(VaultError):
            await load_all(conn, old)
