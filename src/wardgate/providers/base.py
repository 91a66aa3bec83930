"""The adapter protocol and the runtime ``ProviderClient`` that executes it.

An adapter is pure: it turns a canonical request into an :class:`UpstreamCall` (path, headers, body) and an upstream
error into a :class:`GatewayError`. It never sees credentials and never chooses the host: the client joins the
call's path to the configured base URL and applies credentials afterwards, only to that URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from wardgate.core.errors import GatewayError
from wardgate.core.types import Endpoint, ProxyRequest, ProxyResponse, RequestContext


@dataclass(slots=True)
class UpstreamCall:
    """One HTTP request to send upstream, before credentials. ``path`` is relative to the provider base URL."""

    path: str
    body: bytes
    stream: bool
    method: str = "POST"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


UnsupportedMode = Literal["strict", "warn", "drop"]


@dataclass(frozen=True, slots=True)
class DeploymentTarget:
    """What a provider client needs to know about the deployment it serves a call for."""

    upstream_model: str
    unsupported_params: UnsupportedMode = "strict"
    max_tokens: int | None = None


class Adapter(Protocol):
    """Pure translation for one provider dialect."""

    def build_call(self, request: ProxyRequest, upstream_model: str) -> UpstreamCall: ...

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError: ...


class ProviderClient(Protocol):
    """A configured provider ready to serve calls (an adapter plus credentials plus transport, or a local one)."""

    name: str
    type: str

    def supports(self, endpoint: Endpoint) -> bool: ...

    async def invoke(self, ctx: RequestContext, request: ProxyRequest, target: DeploymentTarget) -> ProxyResponse: ...
