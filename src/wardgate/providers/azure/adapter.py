"""Azure OpenAI adapter: ``{endpoint}/openai/deployments/{deployment}/{operation}?api-version=…``.

The deployment name comes from config and is validated there (letters, digits, ``.``, ``_``, ``-``), so it can
never add a path, query or fragment to the URL the key is sent to.

The Responses API has no deployment segment: the deployment name goes in the body's ``model``
(https://learn.microsoft.com/azure/ai-foundry/openai/how-to/responses). It exists in two forms:

* the dated preview APIs from ``2025-03-01-preview`` on: ``POST /openai/responses?api-version={api_version}``
  (what ``openai.AzureOpenAI(api_version=…).responses.create`` calls);
* the v1 API (GA since August 2025, https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle):
  ``POST /openai/v1/responses``, no ``api-version`` needed.

The configured ``api_version`` decides, as it does for chat: a preview version that has the Responses API uses the
dated path with that version; any other (the GA ``2024-10-21`` default and every older or non-preview version,
none of which know the Responses API) uses the v1 path. The ``api-key`` header works on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from wardgate.core.errors import GatewayError
from wardgate.core.types import ProxyRequest
from wardgate.providers.base import UpstreamCall
from wardgate.providers.openai.adapter import PATHS, body_for_model
from wardgate.providers.openai.errors import map_openai_error

FIRST_RESPONSES_VERSION = "2025-03-01-preview"
DATED_RESPONSES_PATH = "/openai/responses"
V1_RESPONSES_PATH = "/openai/v1/responses"


def has_dated_responses(api_version: str) -> bool:
    """Whether the dated API ``api_version`` serves ``/openai/responses`` (previews from 2025-03-01 on)."""
    return api_version.endswith("-preview") and api_version[:10] >= FIRST_RESPONSES_VERSION[:10]


class AzureAdapter:
    def __init__(self, api_version: str) -> None:
        self._api_version = api_version
        if has_dated_responses(api_version):
            self._responses_path, self._responses_query = DATED_RESPONSES_PATH, {"api-version": api_version}
        else:
            self._responses_path, self._responses_query = V1_RESPONSES_PATH, {}

    def build_call(self, request: ProxyRequest, upstream_model: str) -> UpstreamCall:
        deployment = quote(upstream_model, safe="")
        return UpstreamCall(
            path=f"/openai/deployments/{deployment}{PATHS[request.endpoint]}",
            query={"api-version": self._api_version},
            body=body_for_model(request, upstream_model),
            stream=request.stream,
        )

    def responses_call(self, body: bytes, stream: bool) -> UpstreamCall:
        """A Responses API body whose ``model`` is already the deployment name."""
        return UpstreamCall(path=self._responses_path, query=dict(self._responses_query), body=body, stream=stream)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_openai_error(status, body, headers)
