"""Every admin router, in the order the OpenAPI document lists them. A new resource adds its module here."""

from __future__ import annotations

from fastapi import APIRouter

from wardgate.api.admin import me

ALL: list[APIRouter] = [me.router]
