"""``FakeGemini``: a real aiohttp server speaking the Gemini API and Vertex AI (Gemini) wire formats.

Routes (``{v}`` is any API version, e.g. v1beta / v1):
  POST /{v}/models/{model}:generateContent | :streamGenerateContent[?alt=sse] | :embedContent
       | :batchEmbedContents | :countTokens                                   Gemini API, ``x-goog-api-key``
  GET  /{v}/models, /{v}/models/{model}                                        Gemini API model list
  POST /{v}/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent
       | :streamGenerateContent[?alt=sse] | :predict                           Vertex AI, ``Authorization: Bearer``
  POST /token                                                                  OAuth JWT-bearer grant (Vertex)
  /_fake/*                                                                     control API (see ``control``)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from wardgate.testing.control import add_control_routes
from wardgate.testing.fake_gemini import auth, embed, errors, normalize
from wardgate.testing.fake_gemini.errors import Flavor
from wardgate.testing.fake_gemini.reply import build_reply, prompt_tokens, response_body, stream_frames
from wardgate.testing.fake_gemini.validate import Invalid, validate_generate
from wardgate.testing.recording import RecordedRequest
from wardgate.testing.responses import body_response, drop_connection, json_response, raw_response
from wardgate.testing.script import Behavior
from wardgate.testing.server import FakeServer

DEFAULT_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview", "gemini-embedding-001")
DEFAULT_EMBEDDING_DIM = 768
_GEMINI_METHODS = frozenset({"generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents"})
_VERTEX_METHODS = frozenset({"generateContent", "streamGenerateContent", "predict"})
_BAD_JSON = object()
Handler = Callable[[dict[str, Any], str, int], dict[str, Any]]


class FakeGemini(FakeServer):
    """Fake Gemini API + Vertex AI upstream. Scriptable per request, records everything it receives.

    ``api_key``: when set, Gemini routes need it in ``x-goog-api-key`` (or ``?key=``): missing → 403, wrong →
    400 ``API_KEY_INVALID``, as the real API answers. ``vertex_token``: when set, Vertex routes need
    ``Authorization: Bearer <vertex_token>`` and ``POST /token`` issues it. ``token_public_key`` (PEM): when set,
    ``/token`` verifies the assertion's RS256 signature with it; tokens it issues are accepted on Vertex routes.
    ``known_models``: when set, other models get the provider's 404.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        vertex_token: str | None = None,
        token_public_key: str | bytes | None = None,
        token_expires_in: int = 3599,
        models: Iterable[str] = DEFAULT_MODELS,
        known_models: Iterable[str] | None = None,
        default: Behavior | None = None,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        max_recorded: int = 1000,
        control_api: bool = True,
    ) -> None:
        self.api_key = api_key
        self.vertex_token = vertex_token
        self.token_public_key = token_public_key
        self.token_expires_in = token_expires_in
        self.models = list(models)
        self.known_models = set(known_models) if known_models is not None else None
        self.embedding_dim = embedding_dim
        self.control_api = control_api
        self.issued_tokens: list[str] = []
        super().__init__(default, max_recorded)

    # ------------------------------------------------------------------------------------ lifecycle

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    # ---------------------------------------------------------------------------------------- routes

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{version}/models/{target}", self._gemini_post)
        app.router.add_get("/{version}/models", self._list_models)
        app.router.add_get("/{version}/models/{target}", self._get_model)
        vertex = "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}"
        app.router.add_post(vertex, self._vertex_post)
        app.router.add_post("/token", self._token)
        if self.control_api:
            add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _gemini_post(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        if method == "countTokens":
            return await self._count_tokens(request, model)
        if not model or method not in _GEMINI_METHODS:
            return await self._not_found(request)
        if method in ("generateContent", "streamGenerateContent"):
            return await self._generate(request, "gemini", model, method == "streamGenerateContent")
        handler = embed.embed_content if method == "embedContent" else embed.batch_embed
        return await self._embeddings(request, "gemini", model, handler)

    async def _vertex_post(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        if not model or method not in _VERTEX_METHODS or request.match_info["publisher"] != "google":
            return await self._not_found(request)
        if method == "predict":
            return await self._embeddings(request, "vertex", model, embed.vertex_predict)
        return await self._generate(request, "vertex", model, method == "streamGenerateContent")

    # ------------------------------------------------------------------------------ request prelude

    async def _prelude(self, request: web.Request, flavor: Flavor) -> tuple[dict[str, Any], web.Response | None]:
        """Record the request, then check credentials and the JSON body."""
        raw = await request.read()
        parsed: Any = None
        if raw:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = _BAD_JSON
        headers = self._record(request, raw, None if parsed is _BAD_JSON else parsed)
        rejection = self._check_auth(request, headers, flavor)
        if rejection is None and request.method == "POST" and not isinstance(parsed, dict):
            rejection = json_response(errors.invalid_json(), 400)
        return (parsed if isinstance(parsed, dict) else {}), rejection

    def _check_auth(self, request: web.Request, headers: Mapping[str, str], flavor: Flavor) -> web.Response | None:
        if flavor == "gemini":
            if self.api_key is None:
                return None
            presented = headers.get("x-goog-api-key") or request.query.get("key")
            if not presented:
                return json_response(errors.missing_api_key(), 403)
            return None if presented == self.api_key else json_response(errors.invalid_api_key(), 400)
        if self.vertex_token is None and self.token_public_key is None:
            return None
        auth_header = headers.get("authorization", "")
        token = auth_header[7:].strip() if auth_header[:7].lower() == "bearer " else None
        if token and (token == self.vertex_token or token in self.issued_tokens):
            return None
        return json_response(errors.unauthenticated(), 401)

    def _unknown_model(self, flavor: Flavor, model: str, version: str) -> web.Response | None:
        if self.known_models is None or model in self.known_models:
            return None
        return json_response(errors.model_not_found(flavor, model, version), 404)

    async def _shape(
        self, request: web.Request, flavor: Flavor, behavior: Behavior, model: str, stream: bool
    ) -> web.StreamResponse | None:
        """Apply latency, then scripted errors / disconnects / malformed bodies; None means "answer"."""
        if behavior.latency:
            await asyncio.sleep(behavior.latency)
        if behavior.status >= 400:
            body = behavior.error_body
            if body is None:
                body = errors.default_error(flavor, behavior.status, model, request.match_info["version"])
            return body_response(body, behavior.status, behavior.headers)
        if behavior.disconnect_after is not None and not stream:
            drop_connection(request)
            return web.Response()
        if behavior.malformed and not stream:
            return raw_response(b'{"candidates": [{"content": ', behavior.status, behavior.headers)
        return None

    # --------------------------------------------------------------------------------------- generate

    async def _generate(self, request: web.Request, flavor: Flavor, model: str, stream: bool) -> web.StreamResponse:
        body, rejection = await self._prelude(request, flavor)
        if rejection is None:
            rejection = self._unknown_model(flavor, model, request.match_info["version"])
        if rejection is not None:
            return rejection
        body = normalize.generate_request(body)
        try:
            validate_generate(body, vertex=flavor == "vertex", model=model)
        except Invalid as invalid:
            return json_response(invalid.body, invalid.status)
        behavior = self._pick("chat", model, flavor)
        return await self._guard(stream, self._answer(request, flavor, body, model, behavior, stream))

    async def _answer(
        self, request: web.Request, flavor: Flavor, body: dict[str, Any], model: str, behavior: Behavior, stream: bool
    ) -> web.StreamResponse:
        shaped = await self._shape(request, flavor, behavior, model, stream)
        if shaped is not None:
            return shaped
        reply = build_reply(body, model, behavior, vertex=flavor == "vertex")
        if not stream:
            return json_response(response_body(reply), behavior.status, behavior.headers)
        frames = stream_frames(reply, behavior.malformed)
        if request.query.get("alt") != "sse":  # without alt=sse Google streams one JSON array
            chunks = [orjson.loads(frame[6:]) for frame in frames if not behavior.malformed]
            return json_response(chunks, behavior.status, behavior.headers)
        return await self._stream_frames(request, frames, behavior)

    async def _count_tokens(self, request: web.Request, model: str) -> web.StreamResponse:
        body, rejection = await self._prelude(request, "gemini")
        if rejection is not None:
            return rejection
        wrapped = body.get("generateContentRequest")
        inner: dict[str, Any] = wrapped if isinstance(wrapped, dict) else body
        return json_response({"totalTokens": prompt_tokens(inner)})

    # --------------------------------------------------------------------------------- embeddings

    async def _embeddings(
        self, request: web.Request, flavor: Flavor, model: str, handler: Handler
    ) -> web.StreamResponse:
        body, rejection = await self._prelude(request, flavor)
        if rejection is None:
            rejection = self._unknown_model(flavor, model, request.match_info["version"])
        if rejection is not None:
            return rejection
        if flavor == "gemini":  # Vertex ``predict`` instances are free-form values: their keys are literal
            body = normalize.embed_request(body)
        behavior = self._pick("embeddings", model, flavor)

        async def answer() -> web.StreamResponse:
            shaped = await self._shape(request, flavor, behavior, model, False)
            if shaped is not None:
                return shaped
            try:
                result = handler(body, model, self.embedding_dim)
            except Invalid as invalid:
                return json_response(invalid.body, invalid.status)
            return json_response(result, behavior.status, behavior.headers)

        return await self._guard(False, answer())

    # ------------------------------------------------------------------------------- token, models

    async def _token(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        self._record(request, raw, form)
        try:
            auth.check_grant(form, self.token_public_key)
        except auth.GrantError as error:
            return json_response(error.body, 400)
        token = self.vertex_token or "ya29.fake-" + os.urandom(18).hex()
        self.issued_tokens.append(token)
        return json_response({"access_token": token, "expires_in": self.token_expires_in, "token_type": "Bearer"})

    def _model_obj(self, model: str) -> dict[str, Any]:
        embedding = "embedding" in model
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model,
            "inputTokenLimit": 2048 if embedding else 1048576,
            "outputTokenLimit": 1 if embedding else 65536,
            "supportedGenerationMethods": ["embedContent"] if embedding else ["generateContent", "countTokens"],
        }

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        _, rejection = await self._prelude(request, "gemini")
        return rejection or json_response({"models": [self._model_obj(m) for m in self.models]})

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        _, rejection = await self._prelude(request, "gemini")
        if rejection is not None:
            return rejection
        model = request.match_info["target"]
        if model not in self.models:
            return json_response(errors.model_not_found("gemini", model, request.match_info["version"]), 404)
        return json_response(self._model_obj(model))

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read(), None)
        return json_response(errors.url_not_found(request.path), 404)

    def _record(self, request: web.Request, raw: bytes, parsed: Any) -> dict[str, str]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self._log.add(RecordedRequest(request.method, request.path, dict(request.query), headers, raw, parsed))
        return headers
