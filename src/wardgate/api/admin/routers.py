"""Every admin router, in the order the OpenAPI document lists them. A new resource adds its module here."""

from __future__ import annotations

from fastapi import APIRouter

from wardgate.api.admin import credentials, keys, me, org

ALL: list[APIRouter] = [me.router, org.router, keys.router, credentials.router]
