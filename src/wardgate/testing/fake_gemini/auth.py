"""The fake OAuth token endpoint (service-account JWT bearer grant) and a throwaway service-account key maker.

Real flow: https://developers.google.com/identity/protocols/oauth2/service-account#httprest — the assertion is an
RS256 JWT with ``iss``, ``scope``, ``aud``, ``iat``, ``exp`` (at most one hour); errors are OAuth's
``{"error": "invalid_grant", "error_description": "…"}`` with HTTP 400. Needs ``PyJWT[crypto]``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

JSONDict = dict[str, Any]
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class GrantError(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.body: JSONDict = {"error": error, "error_description": description}


def check_grant(form: Mapping[str, str], public_key: Any | None, now: float | None = None) -> JSONDict:
    """The verified claims of a JWT-bearer grant (signature checked when ``public_key`` is given)."""
    import jwt

    if form.get("grant_type") != JWT_BEARER:
        raise GrantError("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
    assertion = form.get("assertion")
    if not assertion:
        raise GrantError("invalid_request", "Missing required parameter: assertion")
    try:
        header = jwt.get_unverified_header(assertion)
        if header.get("alg") != "RS256":
            raise GrantError("invalid_grant", "Invalid JWT: Token must be signed with RS256.")
        if public_key is None:
            claims: JSONDict = jwt.decode(assertion, options={"verify_signature": False})
        else:
            claims = jwt.decode(
                assertion, public_key, algorithms=["RS256"], options={"verify_aud": False, "verify_exp": False}
            )
    except jwt.InvalidSignatureError:
        raise GrantError("invalid_grant", "Invalid JWT Signature.") from None
    except jwt.PyJWTError:
        raise GrantError("invalid_grant", "Invalid JWT: malformed assertion.") from None
    _check_claims(claims, time.time() if now is None else now)
    return claims


def _check_claims(claims: JSONDict, now: float) -> None:
    for name in ("iss", "aud", "scope", "iat", "exp"):
        if name not in claims:
            raise GrantError("invalid_grant", f"Invalid JWT: missing claim {name}.")
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise GrantError("invalid_grant", "Invalid JWT: iat and exp must be numbers.")
    if exp - iat > 3600:
        raise GrantError("invalid_grant", "Invalid JWT: Expiration time is more than one hour after issue.")
    if exp < now or iat > now + 300:
        raise GrantError(
            "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        )


def make_service_account(
    token_uri: str, email: str = "gateway@fake-project.iam.gserviceaccount.com"
) -> tuple[JSONDict, str]:
    """A fresh service-account key dict (as Google's JSON key file) and its public key PEM, for tests."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    account = {
        "type": "service_account",
        "project_id": "fake-project",
        "private_key_id": "fake-key-1",
        "private_key": private_pem,
        "client_email": email,
        "client_id": "100000000000000000000",
        "token_uri": token_uri,
    }
    return account, public_pem
