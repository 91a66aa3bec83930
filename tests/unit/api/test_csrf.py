"""``CsrfGuard``: a state-changing request that a session cookie would authenticate needs a trusted ``Origin`` (or,
without one, ``Referer``) or ``x-wardgate-csrf: 1``; safe methods, requests without the cookie and requests with an
API key pass untouched."""

from __future__ import annotations

from typing import Any

import pytest

from wardgate.api.csrf import CsrfGuard, origin_of
from wardgate.core.errors import PermissionDeniedError

COOKIE = ("cookie", "theme=dark; wardgate_session=wgs_abc")
GUARD = CsrfGuard(["https://gw.example.com"])


def scope(method: str = "POST", *headers: tuple[str, str], scheme: str = "http") -> dict[str, Any]:
    raw = [(name.encode(), value.encode()) for name, value in (("host", "10.0.0.5:4000"), *headers)]
    return {"type": "http", "method": method, "scheme": scheme, "headers": raw}


@pytest.mark.parametrize(
    "headers",
    [
        [COOKIE, ("origin", "https://gw.example.com")],
        [COOKIE, ("origin", "HTTPS://GW.EXAMPLE.COM")],
        [COOKIE, ("origin", "http://10.0.0.5:4000")],  # the scheme and Host the request arrived with
        [COOKIE, ("referer", "https://gw.example.com/ui/keys?x=1")],
        [COOKIE, ("x-wardgate-csrf", "1")],
        [COOKIE, ("authorization", "Bearer wg-key")],  # a key wins: the cookie plays no part
        [COOKIE, ("x-api-key", "wg-key")],
        [("cookie", "theme=dark")],
        [],
    ],
)
def test_allowed(headers: list[tuple[str, str]]) -> None:
    GUARD.check(scope("POST", *headers))


@pytest.mark.parametrize(
    "headers",
    [
        [COOKIE],
        [COOKIE, ("origin", "https://evil.example")],
        [COOKIE, ("origin", "null")],
        [COOKIE, ("origin", "https://gw.example.com.evil.example")],
        [COOKIE, ("origin", "https://evil.example"), ("referer", "https://gw.example.com/")],  # Origin decides
        [COOKIE, ("referer", "https://evil.example/page")],
        [COOKIE, ("x-wardgate-csrf", "0")],
        [("cookie", "a=b"), ("cookie", "wardgate_session=wgs_abc")],  # split cookie headers (HTTP/2)
        [COOKIE, ("origin", "https://10.0.0.5:4000")],  # another scheme than the request's
    ],
)
def test_refused(headers: list[tuple[str, str]]) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        GUARD.check(scope("DELETE", *headers))
    assert caught.value.code == "csrf_failed" and "wgs_abc" not in caught.value.message


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_safe_methods_pass(method: str) -> None:
    GUARD.check(scope(method, COOKIE, ("origin", "https://evil.example")))


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://gw.example.com/a?b", "https://gw.example.com"),
        ("http://127.0.0.1:4000", "http://127.0.0.1:4000"),
        ("null", None),
        ("ftp://x", None),
        ("https://user@evil.example", None),
        ("", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin
