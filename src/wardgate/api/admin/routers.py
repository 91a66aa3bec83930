"""Every admin router, in the order the OpenAPI document lists them. A new resource adds its module here."""

from __future__ import annotations

from fastapi import APIRouter

from wardgate.api.admin import (
    audit,
    credentials,
    keys,
    limits,
    me,
    org,
    org_members,
    org_principals,
    org_projects,
    org_users,
    routing,
    spend,
)

ALL: list[APIRouter] = [
    me.router,
    org.router,
    org_projects.router,
    org_users.router,
    org_members.router,
    org_principals.router,
    keys.router,
    credentials.router,
    routing.router,
    limits.router,
    spend.router,
    audit.router,
]
