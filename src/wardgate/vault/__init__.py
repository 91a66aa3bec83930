"""The credentials vault: master keys and AES-256-GCM envelope encryption of provider credentials.

Owns the master keyring (``keys``: ``WARDGATE_SECRET_KEY`` / ``_FILE``, ``WARDGATE_SECRET_KEY_PREVIOUS`` / ``_FILE``,
or a generated ``secret.key`` in the data directory in embedded mode), the key files (``keyfile``), sealing,
opening and re-wrapping secrets (``envelope``: :class:`Sealed` and its ``v1.`` text form), and safe-to-show
summaries (:func:`fingerprint`, :func:`last4`). It is pure crypto and key management: no database, no HTTP.

Must not import ``api``, ``stages``, ``providers`` or ``storage`` (storage keeps :class:`Sealed` values; the vault
knows nothing about where they live). Plaintext secrets exist only in the memory of the process that needs them,
for as long as it needs them: they are never logged, never put in an exception message or a ``repr``, and only
``Sealed`` values, fingerprints and last-4 hints leave this package's callers.
"""

from wardgate.vault.envelope import Sealed, fingerprint, last4, open_sealed, rewrap, seal
from wardgate.vault.errors import VaultError
from wardgate.vault.keys import Keyring, MasterKey, generate_key, load_keyring, parse_key

__all__ = [
    "Keyring",
    "MasterKey",
    "Sealed",
    "VaultError",
    "fingerprint",
    "generate_key",
    "last4",
    "load_keyring",
    "open_sealed",
    "parse_key",
    "rewrap",
    "seal",
]
