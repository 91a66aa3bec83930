"""Envelope encryption of secrets (AES-256-GCM), and safe-to-show summaries of them.

Each secret gets its own random 32-byte data key. The secret is encrypted under the data key, and the data key is
encrypted ("wrapped") under the current master key; both layers use a fresh random 96-bit nonce and store it in
front of the ciphertext (``nonce ‖ ciphertext ‖ tag``). The caller's ``context`` (e.g. the credential's name) is
bound into both layers as associated data, with a different label per layer, so a value copied to another row,
or one layer swapped for another, does not decrypt. Rotating the master key only re-wraps the 60-byte data key.

Text form (``Sealed.to_text``), ASCII and safe in any text column or file::

    v1.<key_id: 16 hex>.<wrapped_key: base64url, no padding>.<ciphertext: base64url, no padding>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wardgate.vault.errors import VaultError
from wardgate.vault.keys import KEY_BYTES, Keyring

VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_KEY_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
MIN_LAST4_CHARS = 12

_KEY_ID = re.compile(r"[0-9a-f]{16}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_AAD_DATA_KEY = b"wardgate-vault/v1/data-key\x00"
_AAD_SECRET = b"wardgate-vault/v1/secret\x00"
_FINGERPRINT_LABEL = b"wardgate-vault/fingerprint/v1\x00"


@dataclass(frozen=True)
class Sealed:
    """An encrypted secret as the database stores it. ``repr`` shows the key id and sizes, never bytes."""

    key_id: str
    wrapped_key: bytes
    """The data key under the master key ``key_id``: nonce ‖ ciphertext ‖ tag (60 bytes)."""
    ciphertext: bytes
    """The UTF-8 secret under the data key: nonce ‖ ciphertext ‖ tag."""
    version: int = VERSION

    def __post_init__(self) -> None:
        for name in ("wrapped_key", "ciphertext"):  # database drivers may hand back bytearray or memoryview
            if isinstance(value := getattr(self, name), bytearray | memoryview):
                object.__setattr__(self, name, bytes(value))
        if self.version != VERSION:
            raise VaultError(f"unsupported sealed secret version {self.version!r} (this wardgate reads v{VERSION})")
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise VaultError("malformed sealed secret: the key id is not 16 lowercase hex characters")
        if not isinstance(self.wrapped_key, bytes) or len(self.wrapped_key) != WRAPPED_KEY_BYTES:
            raise VaultError(f"malformed sealed secret: the wrapped key is not {WRAPPED_KEY_BYTES} bytes")
        if not isinstance(self.ciphertext, bytes) or len(self.ciphertext) < NONCE_BYTES + TAG_BYTES:
            raise VaultError("malformed sealed secret: the ciphertext is too short")

    def __repr__(self) -> str:
        return (
            f"Sealed(version={self.version}, key_id={self.key_id!r}, wrapped_key=<{len(self.wrapped_key)} bytes>, "
            f"ciphertext=<{len(self.ciphertext)} bytes>)"
        )

    def to_text(self) -> str:
        """``v1.<key_id>.<b64url wrapped_key>.<b64url ciphertext>`` (see the module docstring)."""
        return f"v{self.version}.{self.key_id}.{_b64(self.wrapped_key)}.{_b64(self.ciphertext)}"

    @classmethod
    def from_text(cls, text: str) -> Sealed:
        """Parse :meth:`to_text` output (surrounding whitespace ignored); :class:`VaultError` when malformed."""
        parts = text.strip().split(".") if isinstance(text, str) else []
        if len(parts) != 4 or not parts[0].startswith("v"):
            raise VaultError("malformed sealed secret: expected v1.<key id>.<wrapped key>.<ciphertext>")
        version, key_id, wrapped, ciphertext = parts
        if version != f"v{VERSION}":
            raise VaultError(f"unsupported sealed secret version {version[:8]!r} (this wardgate reads v{VERSION})")
        return cls(key_id=key_id, wrapped_key=_unb64(wrapped), ciphertext=_unb64(ciphertext), version=VERSION)


def seal(keyring: Keyring, plaintext: str, *, context: str) -> Sealed:
    """Encrypt ``plaintext`` under a new data key wrapped by ``keyring.current``, bound to ``context``."""
    master = keyring.current
    data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    try:
        secret = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise VaultError("the secret is not valid Unicode text") from None
    ciphertext = _encrypt(data_key, secret, _secret_aad(context))
    wrapped_key = _encrypt(master.key, data_key, _data_key_aad(master.key_id, context))
    return Sealed(key_id=master.key_id, wrapped_key=wrapped_key, ciphertext=ciphertext)


def open_sealed(keyring: Keyring, sealed: Sealed, *, context: str) -> str:
    """The plaintext of ``sealed``, sealed with ``context``.

    Raises :class:`VaultError` naming the missing key id when its master key is not configured, and one generic
    "could not be decrypted" error for a wrong key, tampered data or a wrong context.
    """
    data_key = _unwrap(keyring, sealed, context)
    try:
        secret = _decrypt(data_key, sealed.ciphertext, _secret_aad(context))
        return secret.decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        raise _undecryptable(context) from None


def rewrap(keyring: Keyring, sealed: Sealed, *, context: str) -> Sealed:
    """``sealed`` with its data key re-wrapped under ``keyring.current``; the secret's ciphertext is unchanged and
    never decrypted. Returns ``sealed`` itself when it already uses the current key."""
    master = keyring.current
    if sealed.key_id == master.key_id:
        return sealed
    data_key = _unwrap(keyring, sealed, context)
    wrapped_key = _encrypt(master.key, data_key, _data_key_aad(master.key_id, context))
    return Sealed(key_id=master.key_id, wrapped_key=wrapped_key, ciphertext=sealed.ciphertext)


def fingerprint(plaintext: str) -> str:
    """``sha256:`` + 12 hex characters of SHA-256 over a fixed label and the secret: stable, safe to show, and
    enough to tell whether two credentials hold the same secret. It is unkeyed, so it only protects secrets that
    cannot be guessed (API keys, not short passwords)."""
    digest = hashlib.sha256(_FINGERPRINT_LABEL + plaintext.encode("utf-8", "surrogatepass")).hexdigest()
    return f"sha256:{digest[:12]}"


def last4(plaintext: str) -> str:
    """The last 4 characters of the secret (surrounding whitespace ignored), for recognising it in a list.

    Secrets shorter than 12 characters show nothing (``""``): four characters would reveal too much of them.
    """
    text = plaintext.strip()
    return text[-4:] if len(text) >= MIN_LAST4_CHARS else ""


def _unwrap(keyring: Keyring, sealed: Sealed, context: str) -> bytes:
    master = keyring.get(sealed.key_id)
    try:
        return _decrypt(master.key, sealed.wrapped_key, _data_key_aad(master.key_id, context))
    except InvalidTag:
        raise _undecryptable(context) from None


def _encrypt(key: bytes, data: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def _decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)


def _data_key_aad(key_id: str, context: str) -> bytes:
    return _AAD_DATA_KEY + key_id.encode("ascii") + b"\x00" + _context(context)


def _secret_aad(context: str) -> bytes:
    return _AAD_SECRET + _context(context)


def _context(context: str) -> bytes:
    if not isinstance(context, str) or not context:
        raise ValueError("a non-empty context (e.g. the credential's name) is required")
    return context.encode("utf-8", "surrogatepass")


def _undecryptable(context: str) -> VaultError:
    return VaultError(
        f"the secret for {context!r} could not be decrypted: wrong master key, tampered data or wrong context"
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise VaultError("malformed sealed secret: a part is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise VaultError("malformed sealed secret: a part is not base64url") from None
    if _b64(data) != text:
        raise VaultError("malformed sealed secret: a part is not canonical base64url")
    return data
