"""Master keys (key-encryption keys): parsing, ids, the keyring, and loading it from the environment.

A key value (``WARDGATE_SECRET_KEY``, a line of a key file, ...) is read as follows, surrounding whitespace ignored:

* **base64 or base64url of exactly 32 bytes** (43 characters, or 44 with ``=`` padding), e.g. the output of
  ``wardgate.vault.generate_key()`` or ``python -c "import secrets; print(secrets.token_urlsafe(32))"``: used as is;
* otherwise **any string of at least 32 characters** (e.g. ``openssl rand -hex 32``) is a passphrase, stretched to
  32 bytes with HKDF-SHA256 (salt ``wardgate-vault/passphrase/v1``, info ``wardgate master key``). HKDF has no work
  factor, so the passphrase must itself be random, not a memorable password; the salt and info are fixed so the
  same passphrase gives the same key on every run and every host;
* anything shorter is refused.

A key's id is the first 16 hex characters of SHA-256 over a fixed label and the key bytes: stable, and it reveals
nothing about the key. Sealed secrets carry it, so the right key is found after a rotation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wardgate.vault.errors import VaultError
from wardgate.vault.keyfile import KEY_FILE_NAME, load_or_create, read_key_file

KEY_BYTES = 32
MIN_PASSPHRASE_CHARS = 32
ENV_KEY = "WARDGATE_SECRET_KEY"
ENV_KEY_FILE = "WARDGATE_SECRET_KEY_FILE"
ENV_PREVIOUS = "WARDGATE_SECRET_KEY_PREVIOUS"
ENV_PREVIOUS_FILE = "WARDGATE_SECRET_KEY_PREVIOUS_FILE"

_KEY_ID_LABEL = b"wardgate-vault/key-id/v1\x00"
_HKDF_SALT = b"wardgate-vault/passphrase/v1"
_HKDF_INFO = b"wardgate master key"
_B64_KEY = re.compile(r"[A-Za-z0-9+/]{43}=?|[A-Za-z0-9_-]{43}=?")
_HOW_TO = 'generate one with `python -c "import secrets; print(secrets.token_urlsafe(32))"`'


@dataclass(frozen=True, repr=False)
class MasterKey:
    """A 32-byte master key and its public id. ``repr``/``str`` show only the id."""

    key: bytes
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, bytes) or len(self.key) != KEY_BYTES:
            raise VaultError(f"a master key must be exactly {KEY_BYTES} bytes")
        object.__setattr__(self, "key_id", hashlib.sha256(_KEY_ID_LABEL + self.key).hexdigest()[:16])

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


class Keyring:
    """The current master key (new seals, rewraps) and the previous ones (still accepted for decryption)."""

    __slots__ = ("_current", "_keys")

    def __init__(self, current: MasterKey, previous: Iterable[MasterKey] = ()) -> None:
        self._current = current
        self._keys: dict[str, MasterKey] = {current.key_id: current}
        for key in previous:
            self._keys.setdefault(key.key_id, key)

    @property
    def current(self) -> MasterKey:
        return self._current

    @property
    def ids(self) -> tuple[str, ...]:
        """Every usable key id, the current one first."""
        return tuple(self._keys)

    def get(self, key_id: str) -> MasterKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise VaultError(
                f"unknown master key id {key_id!r}: this secret was sealed under a master key that is not "
                f"configured; set {ENV_PREVIOUS} (or {ENV_PREVIOUS_FILE}) to the old key"
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self) -> Iterator[MasterKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring(current={self._current.key_id!r}, ids={list(self._keys)!r})"


def generate_key() -> str:
    """A new master key value: base64url (no padding) of 32 random bytes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).rstrip(b"=").decode("ascii")


def parse_key(value: str, *, source: str) -> MasterKey:
    """The master key a configured value stands for (see the module docstring); ``source`` names it in errors."""
    text = value.strip()
    raw = _decode_b64_key(text)
    if raw is not None:
        return MasterKey(raw)
    if len(text) >= MIN_PASSPHRASE_CHARS:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_HKDF_SALT, info=_HKDF_INFO)
        return MasterKey(hkdf.derive(text.encode("utf-8")))
    raise VaultError(
        f"{source} is neither base64 of exactly {KEY_BYTES} bytes nor a passphrase of at least "
        f"{MIN_PASSPHRASE_CHARS} characters; {_HOW_TO}"
    )


def load_keyring(env: Mapping[str, str], data_dir: Path) -> Keyring:
    """The keyring the environment configures.

    The current key comes from ``WARDGATE_SECRET_KEY`` or ``WARDGATE_SECRET_KEY_FILE`` (a file holding one value;
    not both); previous keys, accepted for decryption only, from ``WARDGATE_SECRET_KEY_PREVIOUS`` (comma-separated)
    or ``WARDGATE_SECRET_KEY_PREVIOUS_FILE`` (values separated by commas or newlines), so a previous passphrase
    cannot contain a comma. Empty variables count as unset. With no current key configured (embedded mode) the
    key in ``data_dir/secret.key`` is used, generated there (mode 0600) on first start; a ``secret.key`` that
    group or others may access is refused.
    """
    current_values = _values(env, ENV_KEY, ENV_KEY_FILE, many=False)
    if current_values:
        source, value = current_values[0]
        current = parse_key(value, source=source)
    else:
        text = load_or_create(data_dir, generate_key() + "\n")
        current = parse_key(text, source=str(data_dir / KEY_FILE_NAME))
    previous = [parse_key(v, source=src) for src, v in _values(env, ENV_PREVIOUS, ENV_PREVIOUS_FILE, many=True)]
    return Keyring(current, previous)


def _values(env: Mapping[str, str], var: str, file_var: str, *, many: bool) -> list[tuple[str, str]]:
    """The ``(source, value)`` entries ``var`` or ``file_var`` configure: one whole value, or ``many`` split on
    commas (and, in a file, newlines). Empty entries are skipped; an empty file is an error."""
    inline = env.get(var, "").strip()
    file_name = env.get(file_var, "").strip()
    if inline and file_name:
        raise VaultError(f"set either {var} or {file_var}, not both")
    if file_name:
        source = f"{file_var} ({file_name})"
        text = read_key_file(Path(file_name), private=False, source=file_var)
        if not text.strip():
            raise VaultError(f"{source} is empty")
    else:
        source, text = var, inline
    parts = text.replace("\n", ",").split(",") if many else [text]
    values = [part.strip() for part in parts if part.strip()]
    if len(values) == 1:
        return [(source, values[0])]
    return [(f"{source} entry {n}", value) for n, value in enumerate(values, start=1)]


def _decode_b64_key(text: str) -> bytes | None:
    """The 32 bytes ``text`` encodes in base64 or base64url, or None if it is not such a value."""
    if not _B64_KEY.fullmatch(text):
        return None
    standard = text.rstrip("=").replace("-", "+").replace("_", "/") + "="
    try:
        raw = base64.b64decode(standard, validate=True)
    except binascii.Error:
        return None
    return raw if len(raw) == KEY_BYTES else None
