"""``FakeBedrock``: a real aiohttp server speaking Bedrock Runtime's wire format (SigV4-verified).

Routes (paths as botocore builds them; the model id is one percent-encoded path segment):
  POST /model/{modelId}/converse          Converse (JSON)
  POST /model/{modelId}/converse-stream   ConverseStream (``application/vnd.amazon.eventstream`` binary frames)
  POST /model/{modelId}/invoke            InvokeModel for Titan and Cohere embedding models
  POST /model/{modelId}/count-tokens      CountTokens (``converse`` or ``invokeModel`` input; ≈ characters / 4;
                                          inference profiles and Amazon Nova ids are refused as AWS refuses them)
  /_fake/*                                the control API shared with the other fakes
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from wardgate.testing.control import add_control_routes
from wardgate.testing.fake_bedrock import embeddings, errors
from wardgate.testing.fake_bedrock.eventstream import event_frame, exception_frame
from wardgate.testing.fake_bedrock.replies import build_reply, converse_body, estimate_input_tokens, stream_frames
from wardgate.testing.fake_bedrock.sigv4 import Received, SigV4Verifier
from wardgate.testing.fake_bedrock.validate import BedrockModel, conversation_error
from wardgate.testing.recording import RecordedRequest
from wardgate.testing.responses import drop_connection, json_response, raw_response
from wardgate.testing.script import Behavior
from wardgate.testing.server import FakeServer

EVENT_STREAM = "application/vnd.amazon.eventstream"
_OPERATIONS = {
    "converse": "Converse",
    "converse-stream": "ConverseStream",
    "invoke": "InvokeModel",
    "count-tokens": "CountTokens",
}
_PROFILE_PREFIXES = ("us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")
_NOT_JSON = object()


class FakeBedrock(FakeServer):
    """Fake Bedrock Runtime upstream. Scriptable per request with ``Behavior``; records everything it receives.

    Every request must carry a valid SigV4 signature for ``access_key_id``/``secret_access_key`` (and
    ``session_token`` when set), scoped to ``region`` and the ``bedrock`` service; otherwise 403 as AWS answers.
    ``models``: when set, other model ids get Bedrock's 400 "The provided model identifier is invalid.".
    Streams: ``Behavior(status>=400, disconnect_after=N)`` sends N events then the status's exception event
    (``throttlingException`` …) inside the stream instead of an HTTP error.
    """

    def __init__(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        region: str = "us-east-1",
        session_token: str | None = None,
        models: list[str] | None = None,
        default: Behavior | None = None,
        max_recorded: int = 1000,
        control_api: bool = True,
    ) -> None:
        super().__init__(default, max_recorded)
        self.region = region
        self.models = models
        self.control_api = control_api
        self._verifier = SigV4Verifier(access_key_id, secret_access_key, region, session_token, "bedrock")
        self._model = BedrockModel()

    # ------------------------------------------------------------------------------------ lifecycle

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        if self.control_api:
            add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    # ------------------------------------------------------------------------------------- dispatch

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        parsed: Any = _NOT_JSON
        if raw:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError:
                parsed = _NOT_JSON
        raw_path = request.raw_path
        headers = {k.lower(): v for k, v in request.headers.items()}
        path = raw_path.split("?", 1)[0]
        self._log.add(
            RecordedRequest(
                request.method, path, dict(request.query), headers, raw, None if parsed is _NOT_JSON else parsed
            )
        )
        segments = path.split("/")
        if len(segments) != 4 or segments[1] != "model" or segments[3] not in _OPERATIONS or request.method != "POST":
            return errors.error_response(404, "UnknownOperationException", "Not Found")
        failure = self._verifier.check(Received(request.method, raw_path, headers, raw))
        if failure is not None:
            return errors.error_response(403, failure.error_type, failure.message)
        model_id = unquote(segments[2])
        if self.models is not None and model_id not in self.models:
            return errors.error_response(400, "ValidationException", "The provided model identifier is invalid.")
        if segments[3] == "invoke":
            return await self._invoke(request, model_id, parsed)
        if segments[3] == "count-tokens":
            return self._count_tokens(model_id, parsed)
        if not isinstance(parsed, dict):
            return errors.error_response(400, "SerializationException", "Invalid JSON body")
        return await self._converse(request, model_id, parsed, stream=segments[3] == "converse-stream")

    async def _shape(self, request: web.Request, behavior: Behavior, stream: bool) -> web.StreamResponse | None:
        """Latency, scripted HTTP errors, disconnects and malformed bodies; None means "answer normally"."""
        if behavior.latency:
            await asyncio.sleep(behavior.latency)
        if behavior.status >= 400 and not (stream and behavior.disconnect_after is not None):
            return errors.scripted_error(behavior.status, behavior.error_body, behavior.headers)
        if behavior.disconnect_after is not None and not stream:
            drop_connection(request)
            return web.Response()
        if behavior.malformed and not stream:
            return raw_response(b'{"output": {"message": {"role": "assistant", "content": [{"text": "', 200)
        return None

    # ------------------------------------------------------------------------------------- converse

    async def _converse(
        self, request: web.Request, model_id: str, body: dict[str, Any], *, stream: bool
    ) -> web.StreamResponse:
        operation = "ConverseStream" if stream else "Converse"
        problem = self._model.shape_errors(operation, {**body, "modelId": model_id})
        problem = problem or conversation_error(body, model_id)
        if problem is not None:
            return errors.error_response(400, "ValidationException", problem)
        behavior = self._pick("chat", model_id, "bedrock")
        return await self._guard(stream, self._answer(request, body, behavior, stream))

    async def _answer(
        self, request: web.Request, body: dict[str, Any], behavior: Behavior, stream: bool
    ) -> web.StreamResponse:
        started = time.monotonic()
        shaped = await self._shape(request, behavior, stream)
        if shaped is not None:
            return shaped
        reply = build_reply(body, behavior)
        latency_ms = int((time.monotonic() - started) * 1000) + 1
        headers = {"x-amzn-RequestId": errors.request_id(), **behavior.headers}
        if not stream:
            return json_response(converse_body(reply, latency_ms), 200, headers)
        frames = stream_frames(reply, behavior.chunks or 20, latency_ms)
        if behavior.malformed:
            frames.insert(1, event_frame("contentBlockDelta", b'{"contentBlockIndex": 0, "delta": {"te'))
        complete = True
        if behavior.disconnect_after is not None:
            frames = frames[: behavior.disconnect_after]
            if behavior.status >= 400:
                kind = errors.type_for(behavior.status, behavior.headers)
                message = errors.MESSAGES.get(kind, "error")
                frames.append(exception_frame(errors.stream_exception_type(kind), message))
            else:
                complete = False
        return await self._send_frames(request, frames, headers, behavior.chunk_interval, complete)

    async def _send_frames(
        self, request: web.Request, frames: list[bytes], headers: dict[str, str], interval: float, complete: bool
    ) -> web.StreamResponse:
        """Send event-stream frames with chunked encoding; an incomplete stream is cut without its last chunk."""
        resp = web.StreamResponse(status=200, headers={"Content-Type": EVENT_STREAM, **headers})
        try:
            await resp.prepare(request)
            if interval <= 0:
                await resp.write(b"".join(frames))
            else:
                for position, frame in enumerate(frames):
                    if position:
                        await asyncio.sleep(interval)
                    await resp.write(frame)
            if complete:
                await resp.write_eof()
                self.completed_streams += 1
            else:
                drop_connection(request)
        except ConnectionError:
            self._client_gone(True)
        return resp

    # --------------------------------------------------------------------------------- count tokens

    def _count_tokens(self, model_id: str, parsed: Any) -> web.StreamResponse:
        """CountTokens, validated like Converse; answers ≈ characters / 4 of the system and message texts."""
        if not isinstance(parsed, dict):
            return errors.error_response(400, "SerializationException", "Invalid JSON body")
        given: dict[str, Any] = parsed["input"] if isinstance(parsed.get("input"), dict) else {}
        params = {**parsed, "modelId": model_id}
        invoke = given.get("invokeModel")
        if isinstance(invoke, dict) and isinstance(invoke.get("body"), str):
            try:  # a rest-json blob travels base64-encoded
                raw_body = base64.b64decode(invoke["body"], validate=True)
            except binascii.Error:
                return errors.error_response(400, "SerializationException", "Invalid base64 body")
            params["input"] = {**given, "invokeModel": {**invoke, "body": raw_body}}
        problem = self._model.shape_errors("CountTokens", params)
        converse = given.get("converse")
        if problem is None and isinstance(converse, dict):
            problem = conversation_error(converse, model_id)
        if problem is not None:
            return errors.error_response(400, "ValidationException", problem)
        if model_id.startswith(_PROFILE_PREFIXES) or model_id.startswith("amazon.nova"):
            return errors.error_response(
                400, "ValidationException", "The provided model doesn't support counting tokens."
            )
        if isinstance(converse, dict):
            tokens = estimate_input_tokens(converse)
        else:
            tokens = max(1, len(params["input"]["invokeModel"]["body"]) // 4)
        return json_response({"inputTokens": tokens}, 200, {"x-amzn-RequestId": errors.request_id()})

    # --------------------------------------------------------------------------------------- invoke

    async def _invoke(self, request: web.Request, model_id: str, parsed: Any) -> web.StreamResponse:
        kind = embeddings.family(model_id)
        if kind is None:
            return errors.error_response(400, "ValidationException", "This fake serves embedding models only.")
        try:
            result = embeddings.answer(kind, None if parsed is _NOT_JSON else parsed)
        except embeddings.InvalidEmbeddingRequest as exc:
            return errors.error_response(400, "ValidationException", str(exc))
        behavior = self._pick("embeddings", model_id, "bedrock")

        async def answer() -> web.StreamResponse:
            shaped = await self._shape(request, behavior, False)
            if shaped is not None:
                return shaped
            headers = {
                "x-amzn-RequestId": errors.request_id(),
                "X-Amzn-Bedrock-Input-Token-Count": str(result.input_tokens),
                "X-Amzn-Bedrock-Invocation-Latency": "12",
                **behavior.headers,
            }
            return json_response(result.body, 200, headers)

        return await self._guard(False, answer())
