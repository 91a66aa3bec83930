"""Azure OpenAI adapter: ``{endpoint}/openai/deployments/{deployment}/{operation}?api-version=…``.

The deployment name comes from config and is validated there (letters, digits, ``.``, ``_``, ``-``), so it can
never add a path, query or fragment to the URL the key is sent to.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from wardgate.core.errors import GatewayError
from wardgate.core.types import ProxyRequest
from wardgate.providers.base import UpstreamCall
from wardgate.providers.openai.adapter import PATHS, body_for_model
from wardgate.providers.openai.errors import map_openai_error


class AzureAdapter:
    def __init__(self, api_version: str) -> None:
        self._api_version = api_version

    def build_call(self, request: ProxyRequest, upstream_model: str) -> UpstreamCall:
        deployment = quote(upstream_model, safe="")
        return UpstreamCall(
            path=f"/openai/deployments/{deployment}{PATHS[request.endpoint]}",
            query={"api-version": self._api_version},
            body=body_for_model(request, upstream_model),
            stream=request.stream,
        )

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_openai_error(status, body, headers)
