"""Provider credential routes: stored sealed by the vault; answers show a fingerprint and the last 4 characters,
never the secret."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["credentials"])
