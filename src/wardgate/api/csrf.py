"""CSRF protection for requests a browser authenticates with the session cookie.

A browser attaches the ``wardgate_session`` cookie to requests other sites make it send. ``SameSite=Lax`` already
keeps it off cross-site POSTs, but not off requests from sibling subdomains (same site, other origin) or from old
browsers, so every state-changing request (any method but GET, HEAD, OPTIONS) that carries a session cookie and no
API key must also prove it comes from the gateway's own pages, by one of:

- an ``Origin`` header naming a trusted origin: the origin of the configured ``redirect_uri`` (the gateway's public
  URL), or the scheme and ``Host`` the request itself arrived with;
- without ``Origin``, a ``Referer`` whose origin is trusted;
- the header ``x-wardgate-csrf: 1``: a page on another origin cannot add a custom header without a CORS preflight,
  which the gateway never grants (scripts and the CLI use this).

A request with an API key header is not checked: the authenticator then ignores the cookie, and a foreign page
cannot set that header either. The check runs at the ASGI front door (``Gateway.__call__``), before routing, because
the authenticator sees only headers, not the method; it covers the admin API, the proxy API and ``/auth/logout``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from wardgate.core.errors import PermissionDeniedError
from wardgate.identity.oidc import SESSION_COOKIE

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-wardgate-csrf"
_KEY_HEADERS = frozenset({b"authorization", b"x-api-key", b"api-key"})
_COOKIE_MARK = SESSION_COOKIE.encode() + b"="


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-case; None for anything else (also "null")."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class CsrfGuard:
    """See the module docstring. ``trusted_origins``: origins always accepted (the public URL's)."""

    def __init__(self, trusted_origins: Iterable[str]) -> None:
        self._trusted = frozenset(found for origin in trusted_origins if (found := origin_of(origin)))

    def check(self, scope: dict[str, Any]) -> None:
        """Raise ``PermissionDeniedError`` (403 ``csrf_failed``) when the request needs proof and has none."""
        if scope["method"] in SAFE_METHODS:
            return
        headers = scope["headers"]
        cookies = [value for name, value in headers if name == b"cookie"]
        if not cookies or not any(_COOKIE_MARK in cookie for cookie in cookies):
            return  # the common case: no session cookie, nothing to check
        origin = referer = host = None
        for name, value in headers:
            if name in _KEY_HEADERS:
                return
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"referer":
                referer = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
            elif name == b"x-wardgate-csrf" and value.strip() == b"1":
                return
        claimed = origin_of(origin) if origin is not None else (origin_of(referer) if referer else None)
        if claimed is not None and self._trusts(claimed, scope, host):
            return
        raise PermissionDeniedError(
            "A request signed in with the session cookie must come from the gateway's own pages (Origin) or send "
            f"the header '{CSRF_HEADER}: 1'.",
            code="csrf_failed",
        )

    def _trusts(self, origin: str, scope: dict[str, Any], host: str | None) -> bool:
        if origin in self._trusted:
            return True
        return host is not None and origin == f"{scope.get('scheme', 'http')}://{host}".lower()
