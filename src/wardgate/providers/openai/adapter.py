"""Pure translation for OpenAI-style upstreams: the canonical request *is* the OpenAI wire format, so the body is
forwarded untouched apart from ``model`` (and untouched byte for byte when the model name does not change).

The Responses API (``POST /v1/responses``, https://platform.openai.com/docs/api-reference/responses) is a native
dialect (``core.types.RESPONSES_DIALECT``): OpenAI and Azure OpenAI deployments take such a request as the client
sent it (:meth:`OpenAIAdapter.responses_call`); OpenAI-compatible servers get its chat translation like any other
request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from wardgate.core.errors import GatewayError
from wardgate.core.types import Endpoint, ProxyRequest
from wardgate.providers.base import UpstreamCall
from wardgate.providers.openai.errors import map_openai_error

PATHS = {Endpoint.CHAT: "/chat/completions", Endpoint.EMBEDDINGS: "/embeddings"}
RESPONSES_PATH = "/responses"


@runtime_checkable
class ResponsesAdapter(Protocol):
    """An adapter whose upstream serves the Responses API natively."""

    def responses_call(self, body: bytes, stream: bool) -> UpstreamCall:
        """The call for a Responses API body whose ``model`` is already the upstream's."""
        ...


def body_for_model(request: ProxyRequest, upstream_model: str) -> bytes:
    """The request body with ``model`` set to the upstream's id; never mutates the request."""
    if request.native is None:
        if upstream_model == request.model:
            return request.raw
        return orjson.dumps({**request.body, "model": upstream_model})
    return orjson.dumps({**without_extensions(request.canonical()), "model": upstream_model})


_EXTENSION_KEYS = frozenset({"cache_control", "thinking_blocks", "reasoning_content"})


def without_extensions(body: dict[str, Any]) -> dict[str, Any]:
    """A canonical body translated from another dialect, minus the gateway's cross-dialect hints OpenAI does not
    know: ``cache_control`` markers (OpenAI caches prompts by itself) and Anthropic's signed ``thinking_blocks`` /
    ``reasoning_content`` (meaningless to another provider). Never mutates ``body``."""
    messages = body.get("messages")
    tools = body.get("tools")
    out = dict(body)
    if isinstance(messages, list):
        out["messages"] = [_clean(m) for m in messages]
    if isinstance(tools, list):
        out["tools"] = [_clean(t) for t in tools]
    return out


def _clean(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    cleaned = {k: v for k, v in item.items() if k not in _EXTENSION_KEYS}
    content = cleaned.get("content")
    if isinstance(content, list):
        cleaned["content"] = [
            {k: v for k, v in part.items() if k != "cache_control"} if isinstance(part, dict) else part
            for part in content
        ]
    return cleaned


class OpenAIAdapter:
    """OpenAI Chat Completions and Embeddings: https://platform.openai.com/docs/api-reference/chat"""

    def build_call(self, request: ProxyRequest, upstream_model: str) -> UpstreamCall:
        return UpstreamCall(
            path=PATHS[request.endpoint], body=body_for_model(request, upstream_model), stream=request.stream
        )

    def responses_call(self, body: bytes, stream: bool) -> UpstreamCall:
        return UpstreamCall(path=RESPONSES_PATH, body=body, stream=stream)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_openai_error(status, body, headers)
