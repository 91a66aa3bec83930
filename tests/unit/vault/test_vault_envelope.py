"""Envelope encryption: round trips, random nonces, tamper and context binding, rotation, text form, summaries."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest

from wardgate.vault import (
    Keyring,
    MasterKey,
    Sealed,
    VaultError,
    fingerprint,
    last4,
    open_sealed,
    parse_key,
    rewrap,
    seal,
)

KEY_A = MasterKey(bytes(range(32)))
KEY_B = MasterKey(bytes(range(100, 132)))
SECRET = "sk-proj-Q2hlY2sgdGhpcyBvdXQhIEl0J3MgYSBzZWNyZXQ-9f3e"
CONTEXT = "openai-prod"
# Sealed once under bytes(range(32)); opening it proves the format stays readable across versions.
KNOWN_TEXT = (
    "v1.c773d55bff375007.ArIeLW07YThNPaqUsqHK83-Xq7GOjm4ZGB13D2X9Kd7fanjqIqzBL0H6E2kG9I8DQoEUfsWTXs4I0JGi."
    "lEkNRQqatpVZVjv3Nik6Afs3JdLi7qBwwlCnWT8_AImXfJKhtw6aaVuM7RrfevqEVUNY-iU"
)


def ring(current: MasterKey = KEY_A, *previous: MasterKey) -> Keyring:
    return Keyring(current, previous)


@pytest.mark.parametrize("plaintext", [SECRET, "", "x", '{"type": "service_account", "k": "ünï\\ncödé ✓"}\n'])
def test_round_trip(plaintext: str) -> None:
    sealed = seal(ring(), plaintext, context=CONTEXT)
    assert sealed.key_id == KEY_A.key_id
    assert sealed.version == 1
    assert len(sealed.wrapped_key) == 12 + 32 + 16
    assert len(sealed.ciphertext) == 12 + len(plaintext.encode()) + 16
    assert open_sealed(ring(), sealed, context=CONTEXT) == plaintext


def test_known_answer_opens() -> None:
    sealed = Sealed.from_text(KNOWN_TEXT)
    assert sealed.key_id == KEY_A.key_id
    assert open_sealed(ring(), sealed, context="openai-prod") == "sk-test-known-answer-1234"


def test_every_seal_is_different() -> None:
    sealed = [seal(ring(), SECRET, context=CONTEXT) for _ in range(20)]
    wrapped_nonces = {s.wrapped_key[:12] for s in sealed}
    secret_nonces = {s.ciphertext[:12] for s in sealed}
    assert len(wrapped_nonces) == len(secret_nonces) == 20
    assert len({s.ciphertext for s in sealed}) == 20
    assert len({s.wrapped_key for s in sealed}) == 20
    assert all(SECRET.encode() not in s.ciphertext for s in sealed)


@pytest.mark.parametrize("field", ["wrapped_key", "ciphertext"])
def test_tampering_with_any_byte_fails(field: str) -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    blob: bytes = getattr(sealed, field)
    for index in range(len(blob)):
        for flip in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[index] ^= flip
            if field == "wrapped_key":
                bad = replace(sealed, wrapped_key=bytes(tampered))
            else:
                bad = replace(sealed, ciphertext=bytes(tampered))
            with pytest.raises(VaultError, match="could not be decrypted") as info:
                open_sealed(ring(), bad, context=CONTEXT)
            assert SECRET not in str(info.value)
            assert info.value.__cause__ is None
            assert info.value.__suppress_context__


def test_truncated_ciphertext_is_refused() -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    with pytest.raises(VaultError, match="could not be decrypted"):
        open_sealed(ring(), replace(sealed, ciphertext=sealed.ciphertext[:-1]), context=CONTEXT)
    with pytest.raises(VaultError, match="malformed"):
        replace(sealed, wrapped_key=sealed.wrapped_key[:-1])


def test_wrong_context_fails() -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    for other in ("openai-dev", "openai-prod ", "OPENAI-PROD", "openai-pro"):
        with pytest.raises(VaultError, match="could not be decrypted"):
            open_sealed(ring(), sealed, context=other)


def test_layers_cannot_be_mixed_between_secrets() -> None:
    first = seal(ring(), SECRET, context=CONTEXT)
    second = seal(ring(), "another-secret-value", context=CONTEXT)
    with pytest.raises(VaultError, match="could not be decrypted"):
        open_sealed(ring(), replace(first, wrapped_key=second.wrapped_key), context=CONTEXT)


def test_empty_context_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="context"):
        seal(ring(), SECRET, context="")


def test_wrong_master_key_with_the_right_id_fails() -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    forged = replace(sealed, key_id=KEY_B.key_id)
    with pytest.raises(VaultError, match="could not be decrypted"):
        open_sealed(ring(KEY_B), forged, context=CONTEXT)


def test_unknown_key_id_is_a_clear_error() -> None:
    sealed = seal(ring(KEY_A), SECRET, context=CONTEXT)
    with pytest.raises(VaultError, match=rf"unknown master key id '{KEY_A.key_id}'.*WARDGATE_SECRET_KEY_PREVIOUS"):
        open_sealed(ring(KEY_B), sealed, context=CONTEXT)


def test_rotation() -> None:
    sealed = seal(ring(KEY_A), SECRET, context=CONTEXT)
    rotated = ring(KEY_B, KEY_A)
    assert open_sealed(rotated, sealed, context=CONTEXT) == SECRET

    rewrapped = rewrap(rotated, sealed, context=CONTEXT)
    assert rewrapped.key_id == KEY_B.key_id
    assert rewrapped.ciphertext == sealed.ciphertext
    assert rewrapped.wrapped_key != sealed.wrapped_key
    assert rewrap(rotated, rewrapped, context=CONTEXT) is rewrapped

    only_b = ring(KEY_B)
    assert open_sealed(only_b, rewrapped, context=CONTEXT) == SECRET
    with pytest.raises(VaultError, match="unknown master key id"):
        open_sealed(only_b, sealed, context=CONTEXT)


def test_rewrap_checks_the_context() -> None:
    sealed = seal(ring(KEY_A), SECRET, context=CONTEXT)
    with pytest.raises(VaultError, match="could not be decrypted"):
        rewrap(ring(KEY_B, KEY_A), sealed, context="someone-else")


def test_rewrap_under_the_current_key_is_a_no_op() -> None:
    sealed = seal(ring(KEY_A, KEY_B), SECRET, context=CONTEXT)
    assert rewrap(ring(KEY_A, KEY_B), sealed, context=CONTEXT) is sealed


def test_text_round_trip() -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    text = sealed.to_text()
    assert text.isascii()
    assert text.startswith(f"v1.{KEY_A.key_id}.")
    assert "=" not in text
    assert len(text.split(".")) == 4
    assert Sealed.from_text(text) == sealed
    assert Sealed.from_text(f"  {text}\n") == sealed
    assert open_sealed(ring(), Sealed.from_text(text), context=CONTEXT) == SECRET


def _malformed() -> list[str]:
    good = seal(ring(), SECRET, context=CONTEXT).to_text()
    version, key_id, wrapped, ciphertext = good.split(".")
    return [
        "",
        "garbage",
        good + ".extra",
        ".".join([version, key_id, wrapped]),
        ".".join(["v2", key_id, wrapped, ciphertext]),
        ".".join(["1", key_id, wrapped, ciphertext]),
        ".".join([version, key_id.upper(), wrapped, ciphertext]),
        ".".join([version, key_id[:-1], wrapped, ciphertext]),
        ".".join([version, key_id, wrapped[:-4], ciphertext]),
        ".".join([version, key_id, wrapped, ciphertext + "!"]),
        ".".join([version, key_id, wrapped, ciphertext + "="]),
        ".".join([version, key_id, wrapped, ciphertext[: len(ciphertext) // 4 * 4] + "A"]),  # 4n+1 characters
        ".".join([version, key_id, wrapped.replace("-", "+").replace("_", "/"), ciphertext]) + "+/",
        ".".join([version, key_id, wrapped, ""]),
    ]


@pytest.mark.parametrize("index", range(len(_malformed())))
def test_malformed_text_is_refused(index: int) -> None:
    with pytest.raises(VaultError, match=r"malformed|unsupported"):
        Sealed.from_text(_malformed()[index])


def test_non_canonical_base64_is_refused() -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    version, key_id, wrapped, _ = sealed.to_text().split(".")
    # Flip a spare (ignored) low bit of the last character: same bytes, different text.
    encoded = base64.urlsafe_b64encode(sealed.ciphertext).rstrip(b"=").decode()
    assert len(encoded) % 4 != 0, "the test secret's length must leave spare bits in the last character"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(encoded[-1])
    twin = encoded[:-1] + alphabet[last ^ 1]
    with pytest.raises(VaultError, match="canonical"):
        Sealed.from_text(".".join([version, key_id, wrapped, twin]))


def test_sealed_from_database_bytes_like_values() -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    copy = Sealed(sealed.key_id, memoryview(sealed.wrapped_key), bytearray(sealed.ciphertext))  # type: ignore[arg-type]
    assert copy == sealed
    assert type(copy.wrapped_key) is bytes
    assert type(copy.ciphertext) is bytes


def test_repr_never_shows_bytes_or_plaintext() -> None:
    sealed = seal(ring(), SECRET, context=CONTEXT)
    for text in (repr(sealed), str(sealed)):
        assert SECRET not in text
        assert sealed.wrapped_key.hex()[:8] not in text
        assert repr(sealed.wrapped_key)[:12] not in text
        assert repr(sealed.ciphertext)[:12] not in text
        assert KEY_A.key.hex() not in text
        assert sealed.key_id in text


def test_fingerprint() -> None:
    value = fingerprint(SECRET)
    assert value == fingerprint(SECRET)
    assert value == "sha256:" + hashlib.sha256(b"wardgate-vault/fingerprint/v1\x00" + SECRET.encode()).hexdigest()[:12]
    assert value.startswith("sha256:")
    assert len(value) == len("sha256:") + 12
    assert value != fingerprint(SECRET + "x")
    assert SECRET not in value
    assert SECRET[-4:] not in value
    assert value[7:] not in hashlib.sha256(SECRET.encode()).hexdigest()  # labelled, not a bare hash


def test_fingerprint_known_answer() -> None:
    assert fingerprint("sk-test-known-answer-1234") == "sha256:02fd5542df12"
    assert fingerprint("") != fingerprint(" ")


@pytest.mark.parametrize(
    ("plaintext", "expected"),
    [
        ("", ""),
        ("abc", ""),
        ("12345678901", ""),  # 11 characters: nothing shown
        ("123456789012", "9012"),  # 12 characters: the last 4
        (SECRET, "9f3e"),
        (f"  {SECRET}\n", "9f3e"),  # surrounding whitespace ignored
        ("   short-value   \n", ""),  # 11 characters once stripped
    ],
)
def test_last4(plaintext: str, expected: str) -> None:
    assert last4(plaintext) == expected


def test_passphrase_keyring_round_trip() -> None:
    key = parse_key("a passphrase that is long enough for hkdf", source="t")
    sealed = seal(Keyring(key), SECRET, context=CONTEXT)
    again = parse_key("a passphrase that is long enough for hkdf", source="t")
    assert open_sealed(Keyring(again), sealed, context=CONTEXT) == SECRET


def test_layout_and_both_layers_bind_the_context() -> None:
    # White box: the documented layout, decrypted by hand.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealed = seal(ring(), SECRET, context=CONTEXT)
    data_key_aad = b"wardgate-vault/v1/data-key\x00" + KEY_A.key_id.encode() + b"\x00" + CONTEXT.encode()
    data_key = AESGCM(KEY_A.key).decrypt(sealed.wrapped_key[:12], sealed.wrapped_key[12:], data_key_aad)
    assert len(data_key) == 32
    secret_aad = b"wardgate-vault/v1/secret\x00" + CONTEXT.encode()
    assert AESGCM(data_key).decrypt(sealed.ciphertext[:12], sealed.ciphertext[12:], secret_aad) == SECRET.encode()

    # Re-wrap the same data key for another context: the secret layer still refuses that context.
    nonce = b"\x00" * 12
    other_aad = b"wardgate-vault/v1/data-key\x00" + KEY_A.key_id.encode() + b"\x00other"
    moved = replace(sealed, wrapped_key=nonce + AESGCM(KEY_A.key).encrypt(nonce, data_key, other_aad))
    with pytest.raises(VaultError, match="could not be decrypted"):
        open_sealed(ring(), moved, context="other")
