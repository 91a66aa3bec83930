"""``GeminiAdapter``: the pure cross-dialect adapter for the Gemini API (AI Studio) and Vertex AI.

Paths (relative to the configured base URL; the adapter never picks the host):

* Gemini API (``https://generativelanguage.googleapis.com``, https://ai.google.dev/api/generate-content):
  ``/v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``, ``:batchEmbedContents``.
  The API key goes in ``x-goog-api-key`` (applied by the credential, never a query parameter, so keys never
  appear in URLs or logs).
* Vertex AI (``https://{location}-aiplatform.googleapis.com``,
  https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference):
  ``/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent`` (and
  ``:streamGenerateContent?alt=sse``, ``:predict`` for embeddings), with an OAuth bearer token.

Model, project and location names are checked against strict patterns so no request can add a path segment,
query or fragment to the URL the credential is sent to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import orjson

from wardgate.core.errors import GatewayError, InvalidRequestError
from wardgate.providers.base import UpstreamCall
from wardgate.providers.gemini import embeddings
from wardgate.providers.gemini.errors import map_google_error
from wardgate.providers.gemini.request import chat_request
from wardgate.providers.gemini.response import chat_response
from wardgate.providers.gemini.stream import GeminiStreamTranslator
from wardgate.providers.translate import StreamTranslator, TranslationContext

Flavor = Literal["gemini", "vertex"]

_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,61}[a-z0-9]|[0-9]{1,20}")
_LOCATION = re.compile(r"[a-z0-9-]{1,63}")
_VERSION = re.compile(r"v[0-9a-z]{1,15}")
_JSON = {"Content-Type": "application/json"}


class GeminiAdapter:
    """Translate OpenAI chat/embeddings requests to Gemini (``flavor="gemini"``) or Vertex AI (``"vertex"``)."""

    needs_image_bytes: ClassVar[bool] = True

    def __init__(
        self,
        flavor: Flavor = "gemini",
        api_version: str | None = None,
        project: str | None = None,
        location: str | None = None,
    ) -> None:
        if flavor not in ("gemini", "vertex"):
            raise ValueError("flavor must be 'gemini' or 'vertex'")
        version = api_version or ("v1beta" if flavor == "gemini" else "v1")
        if not _VERSION.fullmatch(version):
            raise ValueError("api_version must look like v1 or v1beta")
        self.flavor: Flavor = flavor
        self.api_version = version
        if flavor == "vertex":
            if project is None or not _PROJECT.fullmatch(project):
                raise ValueError("Vertex AI needs a valid project id")
            if location is None or not _LOCATION.fullmatch(location):
                raise ValueError("Vertex AI needs a valid location")
            self._prefix = f"/{version}/projects/{project}/locations/{location}/publishers/google/models/"
        else:
            self._prefix = f"/{version}/models/"

    def __repr__(self) -> str:
        return f"GeminiAdapter(flavor={self.flavor!r}, api_version={self.api_version!r})"

    def _model(self, model: str) -> str:
        """The URL-path-safe model id (``models/`` prefix tolerated); anything else is a 400."""
        name = model.removeprefix("models/") if self.flavor == "gemini" else model
        if not _MODEL.fullmatch(name) or ".." in name:
            raise InvalidRequestError("the model name cannot be used in a Gemini URL", param="model")
        return quote(name, safe="")

    def _path(self, model: str, method: str) -> str:
        return f"{self._prefix}{self._model(model)}:{method}"

    # ---------------------------------------------------------------------------------------------- chat

    def chat_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        payload = orjson.dumps(chat_request(body, ctx))
        if ctx.stream:
            path = self._path(ctx.upstream_model, "streamGenerateContent")
            return UpstreamCall(path=path, body=payload, stream=True, query={"alt": "sse"}, headers=dict(_JSON))
        path = self._path(ctx.upstream_model, "generateContent")
        return UpstreamCall(path=path, body=payload, stream=False, headers=dict(_JSON))

    def chat_response(self, body: bytes, ctx: TranslationContext) -> dict[str, Any]:
        return chat_response(body, ctx)

    def chat_stream(self, ctx: TranslationContext) -> StreamTranslator:
        return GeminiStreamTranslator(ctx)

    # ---------------------------------------------------------------------------------------- embeddings

    def embeddings_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        model = self._model(ctx.upstream_model)
        if self.flavor == "vertex":
            payload = embeddings.vertex_request(body, ctx)
            path = self._path(ctx.upstream_model, "predict")
        else:
            payload = embeddings.gemini_request(body, ctx, f"models/{model}")
            path = self._path(ctx.upstream_model, "batchEmbedContents")
        return UpstreamCall(path=path, body=orjson.dumps(payload), stream=False, headers=dict(_JSON))

    def embeddings_response(self, body: bytes, ctx: TranslationContext) -> dict[str, Any]:
        if self.flavor == "vertex":
            return embeddings.vertex_response(body, ctx)
        return embeddings.gemini_response(body, ctx)

    # -------------------------------------------------------------------------------------------- errors

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_google_error(status, body, headers)
