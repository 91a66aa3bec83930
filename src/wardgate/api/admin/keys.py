"""Virtual key routes: create (the secret is shown once), list, read, update, revoke and rotate."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["keys"])
