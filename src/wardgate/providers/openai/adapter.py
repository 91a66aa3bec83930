"""Pure translation for OpenAI-style upstreams: the canonical request *is* the OpenAI wire format, so the body is
forwarded untouched apart from ``model`` (and untouched byte for byte when the model name does not change)."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from wardgate.core.errors import GatewayError
from wardgate.core.types import Endpoint, ProxyRequest
from wardgate.providers.base import UpstreamCall
from wardgate.providers.openai.errors import map_openai_error

PATHS = {Endpoint.CHAT: "/chat/completions", Endpoint.EMBEDDINGS: "/embeddings"}


def body_for_model(request: ProxyRequest, upstream_model: str) -> bytes:
    """The request body with ``model`` set to the upstream's id; never mutates the request."""
    if request.native is None and upstream_model == request.model:
        return request.raw
    return orjson.dumps({**request.canonical(), "model": upstream_model})


class OpenAIAdapter:
    """OpenAI Chat Completions and Embeddings: https://platform.openai.com/docs/api-reference/chat"""

    def build_call(self, request: ProxyRequest, upstream_model: str) -> UpstreamCall:
        return UpstreamCall(
            path=PATHS[request.endpoint], body=body_for_model(request, upstream_model), stream=request.stream
        )

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_openai_error(status, body, headers)
