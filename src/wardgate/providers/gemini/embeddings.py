"""OpenAI embeddings ↔ Gemini ``batchEmbedContents`` and Vertex AI ``predict``.

Gemini API (https://ai.google.dev/api/embeddings#method:-models.batchembedcontents):
``{"requests": [{"model": "models/{m}", "content": {"parts": [{"text": …}]}, "outputDimensionality": N}]}`` →
``{"embeddings": [{"values": [...]}]}`` — the Gemini API reports no token usage there, so ``prompt_tokens`` is
what ``usageMetadata`` says when present and 0 otherwise.
Vertex AI (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api):
``{"instances": [{"content": …}], "parameters": {"outputDimensionality": N}}`` →
``predictions[i].embeddings.values`` with ``statistics.token_count``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequestError, UpstreamStatusError
from wardgate.providers import openai_format as oa
from wardgate.providers.gemini.response import parse_body
from wardgate.providers.translate import TranslationContext

JSONDict = dict[str, Any]
HANDLED = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


def _inputs(body: Mapping[str, Any], ctx: TranslationContext) -> list[str]:
    ctx.check_unknown({k: v for k, v in body.items() if v is not None}, HANDLED)
    if body.get("user") is not None:
        ctx.unsupported("user", "Gemini has no end-user identifier")
    if body.get("encoding_format") not in (None, "float", "base64"):
        raise InvalidRequestError("`encoding_format` must be float or base64", param="encoding_format")
    raw = body.get("input")
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        raise InvalidRequestError(
            "Gemini embeds text only: `input` must be a string or an array of strings", param="input"
        )
    return list(items)


def _dimensions(body: Mapping[str, Any]) -> int | None:
    dims = body.get("dimensions")
    if dims is None:
        return None
    if not isinstance(dims, int) or isinstance(dims, bool) or dims < 1:
        raise InvalidRequestError("`dimensions` must be a positive integer", param="dimensions")
    return dims


def gemini_request(body: Mapping[str, Any], ctx: TranslationContext, model_resource: str) -> JSONDict:
    texts = _inputs(body, ctx)
    dims = _dimensions(body)
    requests: list[JSONDict] = []
    for text in texts:
        item: JSONDict = {"model": model_resource, "content": {"parts": [{"text": text}]}}
        if dims is not None:
            item["outputDimensionality"] = dims
        requests.append(item)
    return {"requests": requests}


def vertex_request(body: Mapping[str, Any], ctx: TranslationContext) -> JSONDict:
    texts = _inputs(body, ctx)
    dims = _dimensions(body)
    request: JSONDict = {"instances": [{"content": text} for text in texts]}
    if dims is not None:
        request["parameters"] = {"outputDimensionality": dims}
    return request


def gemini_response(body: bytes, ctx: TranslationContext) -> JSONDict:
    parsed = parse_body(body)
    embeddings = parsed.get("embeddings")
    if not isinstance(embeddings, list):
        raise UpstreamStatusError("the provider sent an embeddings response without embeddings")
    vectors = [_values(item) for item in embeddings]
    usage = parsed.get("usageMetadata")
    tokens = usage.get("promptTokenCount") if isinstance(usage, Mapping) else None
    return oa.embeddings(ctx.upstream_model, vectors, tokens if isinstance(tokens, int) else 0)


def vertex_response(body: bytes, ctx: TranslationContext) -> JSONDict:
    parsed = parse_body(body)
    predictions = parsed.get("predictions")
    if not isinstance(predictions, list):
        raise UpstreamStatusError("the provider sent an embeddings response without predictions")
    vectors: list[list[float]] = []
    tokens = 0
    for prediction in predictions:
        embedding = prediction.get("embeddings") if isinstance(prediction, Mapping) else None
        vectors.append(_values(embedding))
        stats = embedding.get("statistics") if isinstance(embedding, Mapping) else None
        count = stats.get("token_count") if isinstance(stats, Mapping) else None
        if isinstance(count, int | float) and not isinstance(count, bool):
            tokens += int(count)
    return oa.embeddings(ctx.upstream_model, vectors, tokens)


def _values(item: Any) -> list[float]:
    values = item.get("values") if isinstance(item, Mapping) else None
    if not isinstance(values, list):
        raise UpstreamStatusError("the provider sent an embedding without values")
    return values
