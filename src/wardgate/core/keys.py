"""Key hashing shared by authentication and storage: keys are high-entropy, so one SHA-256 is the right cost."""

from __future__ import annotations

import hashlib


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
