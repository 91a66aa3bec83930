"""The admin API under ``/admin/v1/…``: FastAPI (off the hot path) for its validation and OpenAPI document
(``/admin/v1/openapi.json``, browsable at ``/admin/v1/docs``). Every error has the OpenAI error shape; bodies with
unknown or forbidden fields are rejected, never partly applied."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from wardgate import __version__
from wardgate.api.admin import routers
from wardgate.core.errors import GatewayError, InternalError, InvalidRequestError, NotFoundError
from wardgate.runtime import AppState

_log = logging.getLogger("wardgate.admin")
PREFIX = "/admin/v1"


def create_admin_app(get_state: Callable[[], AppState], request_id: Callable[[dict[str, str]], str]) -> FastAPI:
    app = FastAPI(
        title="wardgate admin API",
        version=__version__,
        openapi_url=PREFIX + "/openapi.json",
        docs_url=PREFIX + "/docs",
        redoc_url=None,
    )
    app.state.get_state = get_state
    app.state.request_id = request_id
    for router in routers.ALL:
        app.include_router(router, prefix=PREFIX)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    return app


def _json(request: Request, error: GatewayError) -> Response:
    headers = dict(error.headers)
    rid = getattr(request.state, "request_id", None)
    if rid:
        headers["x-request-id"] = rid
    return Response(
        orjson.dumps(error.to_dict()), status_code=error.http_status, media_type="application/json", headers=headers
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return _json(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: list[Any] = list(exc.errors())
    first = errors[0] if errors else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(location) or None
    message = first.get("msg", "Invalid request.")
    if first.get("type") == "extra_forbidden":
        message = "Unknown field; it is not accepted here."
    text = f"{param}: {message}" if param else message
    return _json(request, InvalidRequestError(text, param=param))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _json(request, NotFoundError(f"Unknown admin URL: {request.method} {request.url.path}."))
    return _json(request, GatewayError(str(exc.detail), status=exc.status_code, code="http_error"))


async def _unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("admin request failed", extra={"fields": {"path": request.url.path}})
    return _json(request, InternalError())
