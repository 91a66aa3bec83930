"""``FakeOpenAI``: a real aiohttp server speaking the OpenAI and Azure OpenAI wire formats (Chat Completions,
Embeddings, Models and the Responses API, whose wire builders live in ``fake_openai_responses``)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import orjson
from aiohttp import web

from wardgate.testing import errors
from wardgate.testing import fake_openai_responses as responses_api
from wardgate.testing.control import add_control_routes
from wardgate.testing.embeddings import DEFAULT_EMBEDDING_DIM, embeddings_body, normalize_inputs
from wardgate.testing.recording import RecordedRequest
from wardgate.testing.replies import build_reply
from wardgate.testing.responses import (
    body_response,
    drop_connection,
    json_response,
    raw_response,
)
from wardgate.testing.script import Behavior
from wardgate.testing.server import FakeServer
from wardgate.testing.wire import (
    DEFAULT_CHUNKS,
    Flavor,
    completion_body,
    malformed_body,
    malformed_frame,
    random_id,
    stream_frames,
)

DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "text-embedding-3-large")
_MODEL_CREATED = 1715367049
_BAD_JSON = object()
AzureRoute = Literal["deployment", "dated", "v1"]
"""How an Azure route names its deployment: in the path (chat, embeddings), or in the body's ``model`` (the
Responses API: ``/openai/responses?api-version=…`` or the v1 API's ``/openai/v1/responses``)."""


class FakeOpenAI(FakeServer):
    """Fake OpenAI + Azure OpenAI upstream. Scriptable per request, records everything it receives.

    ``api_key`` / ``azure_api_key`` (defaults to ``api_key``): when set, requests must present it
    (``Authorization: Bearer`` for OpenAI routes, ``api-key`` for Azure routes). ``azure_deployments``:
    when set, other deployments get Azure's 404 DeploymentNotFound; a mapping gives each deployment's
    model name (otherwise the deployment name is reported). ``served_model``: the ``model`` reported for
    OpenAI requests — one name for all, or a mapping from requested model (unmapped models are echoed).

    Responses API: ``POST /v1/responses`` (OpenAI), ``/openai/responses?api-version=…`` and ``/openai/v1/responses``
    (Azure; the v1 route also takes the key as a bearer token, and needs no api-version). Behaviours match them as
    endpoint ``"chat"``. Extra: ``status >= 400`` with ``disconnect_after`` on a streamed response sends that many
    events, then an ``error`` event carrying the status's error code and message, and ends the stream.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        azure_api_key: str | None = None,
        azure_deployments: Mapping[str, str] | Iterable[str] | None = None,
        served_model: str | Mapping[str, str] | None = None,
        models: Iterable[str] = DEFAULT_MODELS,
        default: Behavior | None = None,
        embedding_dim: int = DEFAULT_EMBEDDING_DIM,
        max_recorded: int = 1000,
        control_api: bool = True,
    ) -> None:
        self.api_key = api_key
        self.azure_api_key = azure_api_key if azure_api_key is not None else api_key
        self.azure_deployments: dict[str, str] | None = None
        if azure_deployments is not None:
            if isinstance(azure_deployments, Mapping):
                self.azure_deployments = dict(azure_deployments)
            else:
                self.azure_deployments = {name: name for name in azure_deployments}
        self.served_model = served_model
        self.models = list(models)
        self.embedding_dim = embedding_dim
        self.control_api = control_api
        super().__init__(default, max_recorded)
        self._models_body = orjson.dumps({"object": "list", "data": [self._model_obj(m) for m in self.models]})

    # ------------------------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``url + "/v1"``)."""
        return self.url + "/v1"

    # ---------------------------------------------------------------------------------------- routes

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai_chat)
        app.router.add_post("/v1/embeddings", self._openai_embeddings)
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_get("/v1/models/{model_id}", self._get_model)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._azure_chat)
        app.router.add_post("/openai/deployments/{deployment}/embeddings", self._azure_embeddings)
        app.router.add_post("/v1/responses", self._openai_responses)
        app.router.add_post("/openai/responses", self._azure_responses)
        app.router.add_post("/openai/v1/responses", self._azure_v1_responses)
        if self.control_api:
            add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _openai_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "openai", None)

    async def _azure_chat(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "azure", request.match_info["deployment"])

    async def _openai_responses(self, request: web.Request) -> web.StreamResponse:
        return await self._responses(request, "openai", "deployment")

    async def _azure_responses(self, request: web.Request) -> web.StreamResponse:
        return await self._responses(request, "azure", "dated")

    async def _azure_v1_responses(self, request: web.Request) -> web.StreamResponse:
        return await self._responses(request, "azure", "v1")

    async def _openai_embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._embeddings(request, "openai", None)

    async def _azure_embeddings(self, request: web.Request) -> web.StreamResponse:
        return await self._embeddings(request, "azure", request.match_info["deployment"])

    # ------------------------------------------------------------------------------ request prelude

    async def _prelude(
        self, request: web.Request, flavor: Flavor, deployment: str | None, route: AzureRoute = "deployment"
    ) -> tuple[dict[str, Any], web.Response | None]:
        """Record the request, then check auth, Azure routing and the JSON body."""
        raw = await request.read()
        parsed: Any = None
        if raw:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = _BAD_JSON
        headers = self._record(request, raw, None if parsed is _BAD_JSON else parsed)
        rejection = self._check_auth(headers, flavor, route) or self._check_azure(request, flavor, deployment, route)
        if rejection is None and request.method == "POST" and not isinstance(parsed, dict):
            rejection = json_response(errors.invalid_json(flavor), 400)
        return (parsed if isinstance(parsed, dict) else {}), rejection

    def _check_auth(self, headers: Mapping[str, str], flavor: Flavor, route: AzureRoute) -> web.Response | None:
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if flavor == "azure":
            expected, presented = self.azure_api_key, headers.get("api-key")
            if route == "v1" and presented is None:
                presented = bearer
        else:
            expected, presented = self.api_key, bearer
        if expected is None or presented == expected:
            return None
        return json_response(errors.unauthorized(flavor, presented), 401)

    def _check_azure(
        self, request: web.Request, flavor: Flavor, deployment: str | None, route: AzureRoute
    ) -> web.Response | None:
        if flavor != "azure":
            return None
        if route != "v1" and not request.query.get("api-version"):
            return json_response(errors.missing_api_version(), 400)
        if route == "deployment":
            return self._check_deployment(deployment)
        return None

    def _check_deployment(self, deployment: str | None) -> web.Response | None:
        if self.azure_deployments is not None and deployment not in self.azure_deployments:
            return json_response(errors.deployment_not_found(), 404)
        return None

    def _served_name(self, flavor: Flavor, model: str) -> str:
        if flavor == "azure":
            return (self.azure_deployments or {}).get(model, model)
        if isinstance(self.served_model, str):
            return self.served_model
        if self.served_model is not None:
            return self.served_model.get(model, model)
        return model

    async def _shape(
        self, request: web.Request, flavor: Flavor, behavior: Behavior, model: str, stream: bool
    ) -> web.StreamResponse | None:
        """Apply latency, then scripted errors / disconnects / malformed bodies; None means "answer"."""
        if behavior.latency:
            await asyncio.sleep(behavior.latency)
        if behavior.status >= 400:
            body = behavior.error_body
            if body is None:
                body = errors.default_error(flavor, behavior.status, model)
            return body_response(body, behavior.status, behavior.headers)
        if behavior.disconnect_after is not None and not stream:
            drop_connection(request)
            return web.Response()
        if behavior.malformed and not stream:
            return raw_response(malformed_body(random_id("chatcmpl-")), behavior.status, behavior.headers)
        return None

    # --------------------------------------------------------------------------------------- chat

    async def _chat(self, request: web.Request, flavor: Flavor, deployment: str | None) -> web.StreamResponse:
        body, rejection = await self._prelude(request, flavor, deployment)
        if rejection is not None:
            return rejection
        model = deployment if deployment is not None else body.get("model")
        if not isinstance(model, str) or not model:
            return _missing_model()
        if not isinstance(body.get("messages"), list):
            return json_response(errors.missing_parameter(flavor, "messages"), 400)
        stream = body.get("stream") is True
        behavior = self._pick("chat", model, flavor)
        return await self._guard(stream, self._answer_chat(request, flavor, body, model, behavior, stream))

    async def _answer_chat(
        self,
        request: web.Request,
        flavor: Flavor,
        body: dict[str, Any],
        model: str,
        behavior: Behavior,
        stream: bool,
    ) -> web.StreamResponse:
        shaped = await self._shape(request, flavor, behavior, model, stream)
        if shaped is not None:
            return shaped
        served = behavior.served_model or self._served_name(flavor, model)
        reply = build_reply(flavor, body, served, behavior)
        if not stream:
            return json_response(completion_body(reply), behavior.status, behavior.headers)
        frames = stream_frames(reply, behavior.chunks or DEFAULT_CHUNKS)
        if behavior.malformed:
            frames.insert(2 if flavor == "azure" else 1, malformed_frame(reply.completion_id))
        return await self._stream_frames(request, frames, behavior)

    # ----------------------------------------------------------------------------------- responses

    async def _responses(self, request: web.Request, flavor: Flavor, route: AzureRoute) -> web.StreamResponse:
        body, rejection = await self._prelude(request, flavor, None, route)
        if rejection is not None:
            return rejection
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return json_response(errors.missing_parameter(flavor, "model"), 400)
        rejection = self._check_deployment(model) if flavor == "azure" else None
        if rejection is not None:
            return rejection
        if body.get("input") is not None and not isinstance(body["input"], str | list):
            return json_response(_invalid(flavor, "input"), 400)
        stream = body.get("stream") is True
        behavior = self._pick("chat", model, flavor)
        return await self._guard(stream, self._answer_responses(request, flavor, body, model, behavior, stream))

    async def _answer_responses(
        self, request: web.Request, flavor: Flavor, body: dict[str, Any], model: str, behavior: Behavior, stream: bool
    ) -> web.StreamResponse:
        stream_error = stream and behavior.status >= 400 and behavior.disconnect_after is not None
        if stream_error:
            await asyncio.sleep(behavior.latency)
        else:
            shaped = await self._shape(request, flavor, behavior, model, stream)
            if shaped is not None:
                return shaped
        served = behavior.served_model or self._served_name(flavor, model)
        chat = build_reply(flavor, responses_api.chat_view(body), served, behavior)
        reply = responses_api.ResponsesReply.of(chat, body, behavior.usage)
        if not stream:
            return json_response(responses_api.response_object(reply), behavior.status, behavior.headers)
        frames = responses_api.stream_frames(reply, behavior.chunks or DEFAULT_CHUNKS)
        if behavior.malformed:
            frames.insert(1, responses_api.malformed_frame(reply.response_id))
        if stream_error and behavior.disconnect_after is not None:
            sent = behavior.disconnect_after
            error_body = behavior.error_body
            if error_body is None:
                error_body = errors.default_error(flavor, behavior.status, model)
            frames = [*frames[:sent], responses_api.error_frame(sent, behavior.status, error_body, flavor)]
            behavior = dataclasses.replace(behavior, disconnect_after=None)
        return await self._stream_frames(request, frames, behavior)

    # --------------------------------------------------------------------------------- embeddings

    async def _embeddings(self, request: web.Request, flavor: Flavor, deployment: str | None) -> web.StreamResponse:
        body, rejection = await self._prelude(request, flavor, deployment)
        if rejection is not None:
            return rejection
        model = deployment if deployment is not None else body.get("model")
        if not isinstance(model, str) or not model:
            return _missing_model()
        if "input" not in body:
            return json_response(errors.missing_parameter(flavor, "input"), 400)
        keys = normalize_inputs(body["input"])
        if keys is None:
            return json_response(_invalid(flavor, "input"), 400)
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            return json_response(_invalid(flavor, "encoding_format"), 400)
        dims = body.get("dimensions")
        if dims is not None and not _positive_int(dims):
            return json_response(_invalid(flavor, "dimensions"), 400)
        behavior = self._pick("embeddings", model, flavor)

        async def answer() -> web.StreamResponse:
            shaped = await self._shape(request, flavor, behavior, model, False)
            if shaped is not None:
                return shaped
            served = behavior.served_model or self._served_name(flavor, model)
            payload = embeddings_body(keys, served, dims or self.embedding_dim, encoding, behavior.usage)
            return json_response(payload, behavior.status, behavior.headers)

        return await self._guard(False, answer())

    # ------------------------------------------------------------------------------ models, 404s

    def _model_obj(self, model_id: str) -> dict[str, Any]:
        owner = "openai" if model_id.startswith("text-embedding") else "system"
        return {"id": model_id, "object": "model", "created": _MODEL_CREATED, "owned_by": owner}

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        _, rejection = await self._prelude(request, "openai", None)
        if rejection is not None:
            return rejection
        behavior = self._scripts.take("models", None, "openai")
        if behavior is None:
            return raw_response(self._models_body)
        return await self._guard(False, self._models_answer(request, behavior, None))

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        _, rejection = await self._prelude(request, "openai", None)
        if rejection is not None:
            return rejection
        model_id = request.match_info["model_id"]
        behavior = self._scripts.take("models", model_id, "openai") or Behavior()
        return await self._guard(False, self._models_answer(request, behavior, model_id))

    async def _models_answer(
        self, request: web.Request, behavior: Behavior, model_id: str | None
    ) -> web.StreamResponse:
        shaped = await self._shape(request, "openai", behavior, model_id or "", False)
        if shaped is not None:
            return shaped
        if model_id is None:
            return raw_response(self._models_body, behavior.status, behavior.headers)
        if model_id not in self.models:
            return json_response(errors.model_not_found(model_id), 404)
        return json_response(self._model_obj(model_id), behavior.status, behavior.headers)

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read(), None)
        if request.path.startswith("/openai/"):
            return json_response(errors.azure_not_found(), 404)
        return json_response(errors.invalid_url(request.method, request.path), 404)

    def _record(self, request: web.Request, raw: bytes, parsed: Any) -> dict[str, str]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self._log.add(RecordedRequest(request.method, request.path, dict(request.query), headers, raw, parsed))
        return headers


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _invalid(flavor: Flavor, param: str) -> dict[str, Any]:
    message = f"Invalid value for '{param}'."
    if flavor == "azure":
        return errors.azure_error("BadRequest", message)
    return errors.openai_error(message, "invalid_request_error", param, "invalid_value")


def _missing_model() -> web.Response:
    return json_response(errors.openai_error("you must provide a model parameter", "invalid_request_error"), 400)
