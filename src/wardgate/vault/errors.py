"""The vault's one exception."""

from __future__ import annotations


class VaultError(Exception):
    """A key could not be loaded or a secret could not be sealed or opened.

    Messages are written for the operator: they name environment variables, files and key ids, and say how to fix
    the problem, but never contain key material, plaintexts or which cryptographic check failed.
    """
