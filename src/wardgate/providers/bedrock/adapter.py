"""``BedrockAdapter``: the :class:`~wardgate.providers.translate.ChatAdapter` for AWS Bedrock Runtime.

Paths are relative to ``https://bedrock-runtime.{region}.amazonaws.com`` (the client's configured base URL):
``POST /model/{modelId}/converse``, ``/converse-stream`` and ``/invoke`` (botocore ``service-2.json``
``requestUri``). The model id is percent-encoded as botocore encodes a non-greedy URI label (only ``-._~`` stay
literal), so ARNs and inference-profile ids with ``:`` and ``/`` stay one path segment. The caller must send the
path exactly so — it is what the SigV4 signature covers (see :mod:`wardgate.providers.bedrock.signing`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from wardgate.core.errors import GatewayError, UnsupportedParameterError
from wardgate.providers.base import UpstreamCall
from wardgate.providers.bedrock.embeddings import (
    INPUT_TOKENS_HEADER,
    embedding_bodies,
    merge_responses,
)
from wardgate.providers.bedrock.errors import map_bedrock_error
from wardgate.providers.bedrock.request import converse_body
from wardgate.providers.bedrock.response import converse_response
from wardgate.providers.bedrock.stream import ConverseStreamTranslator
from wardgate.providers.translate import StreamTranslator, TranslationContext

_JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"


@functools.lru_cache(maxsize=1024)
def model_path(model_id: str, operation: str) -> str:
    """``/model/{modelId}/{operation}`` with the id encoded like botocore's ``percent_encode``."""
    return f"/model/{quote(model_id, safe='-._~')}/{operation}"


class BedrockAdapter:
    """OpenAI chat completions and embeddings over Bedrock Converse / InvokeModel. Stateless and pure."""

    needs_image_bytes: ClassVar[bool] = True

    def chat_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        payload = orjson.dumps(converse_body(body, ctx))
        operation = "converse-stream" if ctx.stream else "converse"
        accept = EVENT_STREAM if ctx.stream else _JSON
        return UpstreamCall(
            path=model_path(ctx.upstream_model, operation),
            body=payload,
            stream=ctx.stream,
            headers={"Content-Type": _JSON, "Accept": accept},
        )

    def chat_response(self, body: bytes, ctx: TranslationContext) -> dict[str, Any]:
        return converse_response(body, ctx)

    def chat_stream(self, ctx: TranslationContext) -> StreamTranslator:
        return ConverseStreamTranslator(ctx)

    def embeddings_calls(self, body: Mapping[str, Any], ctx: TranslationContext) -> list[UpstreamCall]:
        """Every InvokeModel call the request needs, in input order: Titan embeds one input per call and Cohere
        at most 96, so a batch may need several. Merge the answers with :meth:`embeddings_responses`."""
        bodies, headers = embedding_bodies(body, ctx)
        path = model_path(ctx.upstream_model, "invoke")
        call_headers = {"Content-Type": _JSON, "Accept": _JSON, **headers}
        return [UpstreamCall(path=path, body=orjson.dumps(b), stream=False, headers=call_headers) for b in bodies]

    def embeddings_call(self, body: Mapping[str, Any], ctx: TranslationContext) -> UpstreamCall:
        """The single call for requests that fit one (a client that can fan out uses :meth:`embeddings_calls`)."""
        calls = self.embeddings_calls(body, ctx)
        if len(calls) != 1:
            raise UnsupportedParameterError(
                f"this Bedrock embedding model takes fewer inputs per call than the {len(calls)} calls this request "
                "needs; send fewer inputs per request",
                param="input",
            )
        return calls[0]

    def embeddings_response(
        self, body: bytes, ctx: TranslationContext, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        return self.embeddings_responses([body], ctx, [headers] if headers is not None else None)

    def embeddings_responses(
        self,
        bodies: Sequence[bytes],
        ctx: TranslationContext,
        headers: Sequence[Mapping[str, str] | None] | None = None,
    ) -> dict[str, Any]:
        """Merge the answers of :meth:`embeddings_calls` (``headers``: each answer's response headers, optional,
        for the ``X-Amzn-Bedrock-Input-Token-Count`` that Cohere's body lacks)."""
        counts = [_token_header(h) for h in headers] if headers is not None else None
        return merge_responses(bodies, ctx, counts)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return map_bedrock_error(status, body, headers)


def _token_header(headers: Mapping[str, str] | None) -> int | None:
    if not headers:
        return None
    for key, value in headers.items():
        if key.lower() == INPUT_TOKENS_HEADER:
            return int(value) if value.isdigit() else None
    return None
