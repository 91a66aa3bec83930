"""Master keys: parsing (base64, base64url, HKDF passphrase), ids, the keyring and loading it from the environment."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import sys
from pathlib import Path

import pytest

from wardgate.vault import Keyring, MasterKey, VaultError, generate_key, load_keyring, parse_key

RAW = bytes(range(224, 256))  # its base64 contains "+" and "/", its base64url "-" and "_"
RAW_B64 = "4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8="
RAW_B64URL = "4OHi4-Tl5ufo6err7O3u7_Dx8vP09fb3-Pn6-_z9_v8"
RAW_ID = "40620ae46907413c"
PASSPHRASE = "correct horse battery staple, but much longer"
PASSPHRASE_KEY = bytes.fromhex("3d07bb692373fd9723bdb85bf728e537aec27ea2b7748a26685e8449f06781fe")
PASSPHRASE_ID = "020a9e8189c8eb3b"
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def test_base64_and_base64url_give_the_same_key() -> None:
    assert base64.b64encode(RAW).decode() == RAW_B64
    for value in (RAW_B64, RAW_B64.rstrip("="), RAW_B64URL, RAW_B64URL + "=", f"  {RAW_B64URL}\n"):
        key = parse_key(value, source="test")
        assert key.key == RAW
        assert key.key_id == RAW_ID


def test_key_id_is_a_labelled_hash_prefix() -> None:
    key = MasterKey(RAW)
    assert key.key_id == hashlib.sha256(b"wardgate-vault/key-id/v1\x00" + RAW).hexdigest()[:16]
    assert key.key_id != hashlib.sha256(RAW).hexdigest()[:16]
    assert RAW.hex()[:16] not in key.key_id


def test_passphrase_is_stretched_with_hkdf_stably() -> None:
    # Known answer: the same passphrase must give the same key on every run, host and version.
    key = parse_key(PASSPHRASE, source="test")
    assert key.key == PASSPHRASE_KEY
    assert key.key_id == PASSPHRASE_ID
    assert parse_key(f"\t{PASSPHRASE}  \n", source="test") == key
    assert parse_key(PASSPHRASE + "!", source="test").key_id != PASSPHRASE_ID


def test_hex_key_is_a_passphrase() -> None:
    hex_value = RAW.hex()  # 64 characters: not base64 of 32 bytes, long enough for HKDF
    key = parse_key(hex_value, source="test")
    assert key.key != RAW
    assert key == parse_key(hex_value, source="test")


@pytest.mark.parametrize("value", ["", "short", "x" * 31, base64.b64encode(bytes(16)).decode()])
def test_short_values_are_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(VaultError, match="WARDGATE_SECRET_KEY is neither base64") as info:
        parse_key(value, source="WARDGATE_SECRET_KEY")
    if value:
        assert value not in str(info.value)


def test_master_key_must_be_32_bytes() -> None:
    with pytest.raises(VaultError, match="32 bytes"):
        MasterKey(bytes(31))


def test_generate_key_is_32_random_bytes_in_base64url() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    assert len(first) == 43
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    assert parse_key(first, source="test").key == base64.urlsafe_b64decode(first + "=")


def test_reprs_show_ids_only() -> None:
    current, old = parse_key(RAW_B64, source="t"), parse_key(PASSPHRASE, source="t")
    ring = Keyring(current, [old])
    for text in (repr(current), str(current), repr(ring), str(ring)):
        for secret in (RAW_B64, RAW_B64URL, RAW.hex(), repr(RAW), PASSPHRASE, PASSPHRASE_KEY.hex()):
            assert secret not in text
        assert repr(PASSPHRASE_KEY) not in text
    assert RAW_ID in repr(current)
    assert RAW_ID in repr(ring)
    assert PASSPHRASE_ID in repr(ring)


def test_keyring_lookup() -> None:
    current, old = MasterKey(RAW), MasterKey(PASSPHRASE_KEY)
    ring = Keyring(current, [old, current, old])
    assert ring.current is current
    assert ring.ids == (RAW_ID, PASSPHRASE_ID)
    assert ring.get(PASSPHRASE_ID) is old
    assert PASSPHRASE_ID in ring
    assert len(ring) == 2
    with pytest.raises(VaultError, match=r"unknown master key id 'ffffffffffffffff'.*set WARDGATE_SECRET_KEY_PREVIOUS"):
        ring.get("ffffffffffffffff")


def test_load_from_env(tmp_path: Path) -> None:
    ring = load_keyring({"WARDGATE_SECRET_KEY": RAW_B64URL}, tmp_path)
    assert ring.current.key == RAW
    assert ring.ids == (RAW_ID,)
    assert list(tmp_path.iterdir()) == []  # no key file in shared mode


def test_load_previous_keys(tmp_path: Path) -> None:
    other = generate_key()
    env = {"WARDGATE_SECRET_KEY": PASSPHRASE, "WARDGATE_SECRET_KEY_PREVIOUS": f" {RAW_B64} ,, {other},"}
    ring = load_keyring(env, tmp_path)
    assert ring.current.key_id == PASSPHRASE_ID
    assert ring.ids == (PASSPHRASE_ID, RAW_ID, parse_key(other, source="t").key_id)


def test_load_from_files(tmp_path: Path) -> None:
    current_file, previous_file = tmp_path / "current", tmp_path / "previous"
    current_file.write_text(PASSPHRASE + "\n")  # a passphrase may contain commas: the current file is one value
    previous_file.write_text(f"{RAW_B64URL}\n\n{generate_key()}\n")
    current_file.chmod(0o444)  # Docker/Kubernetes secret files are not subject to the 0600 rule
    env = {"WARDGATE_SECRET_KEY_FILE": str(current_file), "WARDGATE_SECRET_KEY_PREVIOUS_FILE": str(previous_file)}
    ring = load_keyring(env, tmp_path / "data")
    assert ring.current.key == PASSPHRASE_KEY
    assert len(ring.ids) == 3
    assert ring.ids[1] == RAW_ID
    assert not (tmp_path / "data").exists()


def test_both_value_and_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(RAW_B64)
    with pytest.raises(VaultError, match="either WARDGATE_SECRET_KEY or WARDGATE_SECRET_KEY_FILE"):
        load_keyring({"WARDGATE_SECRET_KEY": RAW_B64, "WARDGATE_SECRET_KEY_FILE": str(path)}, tmp_path)


def test_missing_and_empty_key_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match=r"WARDGATE_SECRET_KEY_FILE: cannot read .*nope"):
        load_keyring({"WARDGATE_SECRET_KEY_FILE": str(tmp_path / "nope")}, tmp_path)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(VaultError, match="is empty"):
        load_keyring({"WARDGATE_SECRET_KEY_FILE": str(tmp_path / "empty")}, tmp_path)


def test_bad_previous_key_names_its_entry_not_its_value(tmp_path: Path) -> None:
    env = {"WARDGATE_SECRET_KEY": RAW_B64, "WARDGATE_SECRET_KEY_PREVIOUS": f"{generate_key()},tooshort-secret"}
    with pytest.raises(VaultError, match="WARDGATE_SECRET_KEY_PREVIOUS entry 2 is neither") as info:
        load_keyring(env, tmp_path)
    assert "tooshort-secret" not in str(info.value)


@posix_only
def test_embedded_mode_generates_a_private_key_file_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_keyring({"WARDGATE_SECRET_KEY": "  "}, data_dir)  # empty counts as unset
    key_file = data_dir / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert parse_key(key_file.read_text(), source="t") == first.current
    assert key_file.read_text().endswith("\n")
    assert [p.name for p in data_dir.iterdir()] == ["secret.key"]  # no temporary file left behind
    second = load_keyring({}, data_dir)
    assert second.current == first.current
    assert second.current.key_id == first.current.key_id


@posix_only
def test_generated_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_keyring({}, tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_key_file_accessible_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key_file = tmp_path / "secret.key"
    value = generate_key()
    key_file.write_text(value)
    key_file.chmod(mode)
    with pytest.raises(VaultError, match=rf"group/others \(mode 0{mode:o}\).*chmod 600") as info:
        load_keyring({}, tmp_path)
    assert value not in str(info.value)
    assert key_file.read_text() == value  # never replaced


def test_corrupt_key_file_is_refused_not_replaced(tmp_path: Path) -> None:
    key_file = tmp_path / "secret.key"
    key_file.write_text("garbage\n")
    if sys.platform != "win32":
        key_file.chmod(0o600)
    with pytest.raises(VaultError, match=r"secret\.key is neither base64"):
        load_keyring({}, tmp_path)
    assert key_file.read_text() == "garbage\n"


def test_previous_keys_alongside_the_generated_key(tmp_path: Path) -> None:
    ring = load_keyring({"WARDGATE_SECRET_KEY_PREVIOUS": RAW_B64}, tmp_path)
    assert ring.current.key != RAW
    assert ring.get(RAW_ID).key == RAW


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("")
    with pytest.raises(VaultError, match=r"cannot create the master key file .*set WARDGATE_SECRET_KEY"):
        load_keyring({}, not_a_dir)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        rings = list(pool.map(lambda _: load_keyring({}, tmp_path), range(16)))
    assert len({r.current.key_id for r in rings}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]


@posix_only
def test_filesystem_without_hard_links_falls_back_to_exclusive_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    ring = load_keyring({}, tmp_path)
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert parse_key(key_file.read_text(), source="t") == ring.current
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]
