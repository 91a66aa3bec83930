"""Organisation structure routes: organisations, teams, projects, users, memberships and service principals."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["organisation"])
