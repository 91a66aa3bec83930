"""The ``simulated`` provider client: answers locally through the pure engine, paced like a real model
(``first_token_ms`` before the first token, then ``tokens_per_second``), so a newcomer gets realistic answers,
streams, tool calls and usage with no key and no network."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson

from wardgate.config.schema import SimulatedProvider
from wardgate.core.errors import InvalidRequestError
from wardgate.core.types import Endpoint, ProxyRequest, ProxyResponse, RequestContext
from wardgate.providers.base import DeploymentTarget
from wardgate.providers.simulated.engine import (
    SimulatedRequestError,
    embed,
    plan_reply,
    render_chunks,
    render_completion,
)


class SimulatedClient:
    def __init__(self, config: SimulatedProvider) -> None:
        self.name = config.name
        self.type: str = config.type
        self._first_token = config.first_token_ms / 1000.0
        self._per_token = 1.0 / config.tokens_per_second

    def supports(self, endpoint: Endpoint) -> bool:
        return True

    async def invoke(self, ctx: RequestContext, request: ProxyRequest, target: DeploymentTarget) -> ProxyResponse:
        try:
            return await self._answer(request, target.upstream_model)
        except SimulatedRequestError as exc:
            raise InvalidRequestError(exc.message, param=exc.param) from None

    async def _answer(self, request: ProxyRequest, model: str) -> ProxyResponse:
        body = request.canonical()
        if request.endpoint is Endpoint.EMBEDDINGS:
            result = embed(body, model=model)
            await _sleep(self._first_token)
            return ProxyResponse(body=orjson.dumps(result))
        reply = plan_reply(body)
        response_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        if not request.stream:
            await _sleep(self._first_token + self._per_token * len(reply.tokens))
            completion = render_completion(body, reply, model=model, response_id=response_id, created=created)
            return ProxyResponse(body=orjson.dumps(completion))
        chunks = render_chunks(body, reply, model=model, response_id=response_id, created=created)
        return ProxyResponse(stream=self._pace(chunks))

    async def _pace(self, chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
        await _sleep(self._first_token)
        for index, chunk in enumerate(chunks):
            if index > 1:
                await _sleep(self._per_token)
            yield orjson.dumps(chunk)


async def _sleep(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
