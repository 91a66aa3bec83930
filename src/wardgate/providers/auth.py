"""Credentials applied to upstream calls after translation, only ever to the provider's configured base URL.

A credential renders itself as headers on demand and never appears in ``repr``; ``scrub`` removes it from any text
that could leave the gateway (an upstream error message that echoes the key, for instance).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Credential:
    header: str
    secret: str = field(repr=False)
    scheme: str = ""

    def headers(self) -> dict[str, str]:
        return {self.header: f"{self.scheme}{self.secret}"}

    def scrub(self, text: str) -> str:
        return text.replace(self.secret, "[redacted]") if self.secret and self.secret in text else text


def bearer(secret: str) -> Credential:
    return Credential("Authorization", secret, "Bearer ")


def api_key_header(secret: str, header: str = "api-key") -> Credential:
    return Credential(header, secret)
