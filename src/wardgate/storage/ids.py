"""Readable, random ids for stored objects: a type prefix and 16 random bytes in hex (``team_3f2a…``)."""

from __future__ import annotations

import os


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(16).hex()}"
