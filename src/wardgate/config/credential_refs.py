"""References from the config to provider credentials stored in the vault: ``${credential:NAME}``.

A reference is the whole value of a provider secret: ``api_key``, Vertex ``credentials`` (the service account JSON),
Bedrock ``access_key_id`` / ``secret_access_key`` / ``session_token``. Anywhere else it is a config problem, and so
is a reference that an environment variable's value smuggles in: a stored secret only ever goes where secrets go.

The loader records each reference as a :class:`CredentialRef` and leaves the reference text in place, so a config
that uses them validates (and ``wardgate config check`` reports them) without a database or a master key. The
gateway process resolves them whenever it builds a snapshot (``loader.resolve_credentials``) from the decrypted
credentials it holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationInfo

CREDENTIAL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""What a stored credential may be called (and so what a reference may name)."""
SECRET_FIELDS = frozenset({"api_key", "credentials", "access_key_id", "secret_access_key", "session_token"})
"""The provider fields whose value may be a reference."""
CONTEXT_KEY = "unresolved_credentials"
"""Validation context flag: references may still stand where a secret's content is checked (Vertex JSON)."""
EXAMPLE = "${credential:NAME}"

_MENTION = "${credential:"
_WHOLE = re.compile(r"\$\{credential:([^}]*)\}")
_NAME = re.compile(CREDENTIAL_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class CredentialRef:
    """``providers[provider_index].<field>`` is ``${credential:<name>}`` (at ``line`` of the file)."""

    name: str
    provider_index: int
    field: str
    line: int | None = None

    @property
    def path(self) -> str:
        return f"providers[{self.provider_index}].{self.field}"


def mentions_reference(text: str) -> bool:
    return _MENTION in text


def referenced_name(text: str) -> str | None:
    """The credential name when ``text`` (surrounding whitespace ignored) is exactly one well-formed reference."""
    match = _WHOLE.fullmatch(text.strip())
    if match is None or not _NAME.fullmatch(match.group(1)):
        return None
    return match.group(1)


def parse_reference(path: tuple[str | int, ...], text: str) -> tuple[CredentialRef | None, str | None]:
    """The reference ``text`` at ``path`` makes, or the problem with it (a message without the value)."""
    in_secret = len(path) == 3 and path[0] == "providers" and isinstance(path[1], int) and path[2] in SECRET_FIELDS
    if not in_secret:
        fields = ", ".join(sorted(SECRET_FIELDS))
        return None, f"a credential reference may only be the value of a provider secret ({fields})"
    match = _WHOLE.fullmatch(text.strip())
    if match is None:
        return None, f"a credential reference must be the whole value: {EXAMPLE}"
    name = match.group(1)
    if not _NAME.fullmatch(name):
        return None, "a credential name is 1 to 128 letters, digits, '.', '_' and '-' (starting with a letter or digit)"
    assert isinstance(path[1], int) and isinstance(path[2], str)
    return CredentialRef(name=name, provider_index=path[1], field=path[2]), None


def may_stay_unresolved(text: str, info: ValidationInfo) -> bool:
    """Whether a validator checking a secret's content should let this reference through for now (the loader
    validates before resolution; the content is checked when the reference is resolved)."""
    return bool(info.context and info.context.get(CONTEXT_KEY)) and referenced_name(text) is not None
