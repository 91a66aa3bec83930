"""OpenAI embeddings ↔ Bedrock InvokeModel bodies for Amazon Titan and Cohere Embed (pure).

- Titan Text Embeddings v1/v2 (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html):
  ``{"inputText", "dimensions"? (v2: 256/512/1024), "normalize"? (v2)}`` → ``{"embedding", "inputTextTokenCount"}``,
  ONE input per call.
- Cohere Embed v3/v4 (https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html):
  ``{"texts" (≤ 96), "input_type", "embedding_types"?, "output_dimension"? (v4)}`` → ``{"embeddings"}`` (a list of
  vectors, or ``{"float": [...]}`` when embedding types were asked for). The body carries no token count; Bedrock
  reports it in the ``X-Amzn-Bedrock-Input-Token-Count`` response header, which the caller may pass in.

A request with more inputs than one call takes is split into several calls (:func:`embedding_bodies`); the answers
are merged in order (:func:`merge_responses`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequestError, UpstreamStatusError
from wardgate.providers import openai_format
from wardgate.providers.bedrock.request import request_metadata
from wardgate.providers.translate import TranslationContext

HANDLED = frozenset({"model", "input", "dimensions", "encoding_format", "input_type", "user", "safety_identifier"})
COHERE_BATCH = 96
COHERE_INPUT_TYPES = frozenset({"search_document", "search_query", "classification", "clustering"})
_DIMENSIONS = {"titan-v2": (256, 512, 1024), "cohere-v4": (256, 512, 1024, 1536)}
INPUT_TOKENS_HEADER = "x-amzn-bedrock-input-token-count"


def embedding_family(model_id: str) -> str | None:
    """``titan-v1`` | ``titan-v2`` | ``cohere-v3`` | ``cohere-v4`` | None (not an embedding model we can drive)."""
    lowered = model_id.lower()
    if "titan-embed-text-v2" in lowered:
        return "titan-v2"
    if "titan-embed-text-v1" in lowered or "titan-embed-g1-text" in lowered:
        return "titan-v1"
    if "cohere.embed-v4" in lowered:
        return "cohere-v4"
    if "cohere.embed-" in lowered:
        return "cohere-v3"
    return None


def _inputs(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        return list(raw)
    raise InvalidRequestError("Bedrock embeddings take a string or a non-empty list of strings", param="input")


def embedding_bodies(body: Mapping[str, Any], ctx: TranslationContext) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``(InvokeModel bodies in input order, extra headers)`` for an OpenAI embeddings request."""
    family = embedding_family(ctx.upstream_model)
    if family is None:
        raise InvalidRequestError(
            "embeddings on Bedrock are supported for Amazon Titan and Cohere Embed models", param="model"
        )
    ctx.check_unknown({k: v for k, v in body.items() if v is not None}, HANDLED)
    texts = _inputs(body.get("input"))
    if body.get("encoding_format") not in (None, "float", "base64"):
        ctx.unsupported("encoding_format", "Bedrock returns float vectors")
    dimensions = _dimensions(body.get("dimensions"), family, ctx)
    headers: dict[str, str] = {}
    metadata = request_metadata(body, ctx)
    if metadata:
        headers["X-Amzn-Bedrock-Request-Metadata"] = orjson.dumps(metadata).decode()
    if family.startswith("titan"):
        extra: dict[str, Any] = {}
        if family == "titan-v2":
            extra = {"normalize": True} if dimensions is None else {"dimensions": dimensions, "normalize": True}
        if body.get("input_type") is not None:
            ctx.unsupported("input_type", "Titan embeddings have no input type")
        return [{"inputText": text, **extra} for text in texts], headers
    input_type = body.get("input_type") or "search_document"
    if input_type not in COHERE_INPUT_TYPES:
        raise InvalidRequestError(f"input_type must be one of {sorted(COHERE_INPUT_TYPES)}", param="input_type")
    common: dict[str, Any] = {"input_type": input_type}
    if family == "cohere-v4":
        common["embedding_types"] = ["float"]
        if dimensions is not None:
            common["output_dimension"] = dimensions
    batches = [texts[i : i + COHERE_BATCH] for i in range(0, len(texts), COHERE_BATCH)]
    return [{"texts": batch, **common} for batch in batches], headers


def _dimensions(value: Any, family: str, ctx: TranslationContext) -> int | None:
    if value is None:
        return None
    allowed = _DIMENSIONS.get(family, ())
    if value in allowed and isinstance(value, int) and not isinstance(value, bool):
        return value
    reason = f"this model accepts {', '.join(map(str, allowed))}" if allowed else "this model has a fixed size"
    ctx.unsupported("dimensions", reason)
    return None


def vectors_of(body: bytes) -> tuple[list[list[float]], int | None]:
    """``(vectors, input token count if the body carries one)`` from a Titan or Cohere answer."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamStatusError("the provider sent a response that is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise UpstreamStatusError("the provider sent an unexpected embeddings response")
    if isinstance(parsed.get("embedding"), list):
        count = parsed.get("inputTextTokenCount")
        return [parsed["embedding"]], count if isinstance(count, int) else None
    embeddings = parsed.get("embeddings")
    if isinstance(embeddings, dict):
        embeddings = embeddings.get("float")
    if isinstance(embeddings, list) and all(isinstance(v, list) for v in embeddings):
        return embeddings, None
    raise UpstreamStatusError("the provider sent an unexpected embeddings response")


def merge_responses(
    bodies: Sequence[bytes], ctx: TranslationContext, input_tokens: Sequence[int | None] | None = None
) -> dict[str, Any]:
    """One OpenAI embeddings list from the answers of :func:`embedding_bodies`' calls, in order.

    ``input_tokens``: per call, the ``X-Amzn-Bedrock-Input-Token-Count`` header value when the caller has it
    (Cohere's body has no count); a count in the body wins.
    """
    vectors: list[list[float]] = []
    tokens = 0
    for position, body in enumerate(bodies):
        found, count = vectors_of(body)
        vectors.extend(found)
        if count is None and input_tokens is not None and position < len(input_tokens):
            count = input_tokens[position]
        tokens += count or 0
    return openai_format.embeddings(ctx.upstream_model, vectors, tokens)
