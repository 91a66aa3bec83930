"""InvokeModel for embedding models: Amazon Titan Text Embeddings v1/v2 and Cohere Embed v3/v4 (pure).

Request and response bodies follow
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-titan-embed-text.html and
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-embed.html; vectors are the deterministic
unit vectors of :mod:`wardgate.testing.embeddings`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from wardgate.testing.embeddings import input_tokens, vector

_TITAN_V1_KEYS = frozenset({"inputText"})
_TITAN_V2_KEYS = frozenset({"inputText", "dimensions", "normalize", "embeddingTypes"})
_COHERE_V3_KEYS = frozenset({"texts", "input_type", "truncate", "embedding_types"})
_COHERE_V4_KEYS = frozenset(
    {"texts", "images", "inputs", "input_type", "embedding_types", "output_dimension", "max_tokens", "truncate"}
)
_INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


@dataclass(frozen=True, slots=True)
class EmbeddingAnswer:
    body: dict[str, Any]
    input_tokens: int


class InvalidEmbeddingRequest(ValueError):
    """The body does not fit the model (answered with 400 ValidationException)."""


def family(model_id: str) -> str | None:
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


def answer(kind: str, body: Any) -> EmbeddingAnswer:
    if not isinstance(body, dict):
        raise InvalidEmbeddingRequest("Malformed input request, please reformat your input and try again.")
    if kind.startswith("titan"):
        return _titan(kind, body)
    return _cohere(kind, body)


def _extraneous(body: dict[str, Any], allowed: frozenset[str]) -> None:
    extra = sorted(set(body) - allowed)
    if extra:
        raise InvalidEmbeddingRequest(f"Malformed input request: extraneous key [{extra[0]}] is not permitted")


def _titan(kind: str, body: dict[str, Any]) -> EmbeddingAnswer:
    _extraneous(body, _TITAN_V2_KEYS if kind == "titan-v2" else _TITAN_V1_KEYS)
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise InvalidEmbeddingRequest("Malformed input request: required key [inputText] not found")
    dim = body.get("dimensions", 1024 if kind == "titan-v2" else 1536)
    if dim not in (256, 512, 1024, 1536) or (kind == "titan-v2" and dim == 1536):
        raise InvalidEmbeddingRequest("Malformed input request: dimensions must be one of 256, 512, 1024")
    values, _ = vector(text, dim)
    tokens = input_tokens(text)
    out: dict[str, Any] = {"embedding": values, "inputTextTokenCount": tokens}
    if kind == "titan-v2":
        out["embeddingsByType"] = {"float": values}
    return EmbeddingAnswer(out, tokens)


def _cohere(kind: str, body: dict[str, Any]) -> EmbeddingAnswer:
    _extraneous(body, _COHERE_V4_KEYS if kind == "cohere-v4" else _COHERE_V3_KEYS)
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidEmbeddingRequest("Malformed input request: texts must be a non-empty list of strings")
    if len(texts) > 96:
        raise InvalidEmbeddingRequest("Malformed input request: expected maxLength: 96, actual: " + str(len(texts)))
    if body.get("input_type") not in _INPUT_TYPES:
        raise InvalidEmbeddingRequest("Malformed input request: input_type must be one of " + ", ".join(_INPUT_TYPES))
    dim = body.get("output_dimension", 1536 if kind == "cohere-v4" else 1024)
    if dim not in (256, 512, 1024, 1536):
        raise InvalidEmbeddingRequest("Malformed input request: output_dimension must be 256, 512, 1024 or 1536")
    vectors = [vector(text, dim)[0] for text in texts]
    types = body.get("embedding_types")
    out: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": texts}
    if types:
        out["embeddings"] = {"float": vectors}
        out["response_type"] = "embeddings_by_type"
    else:
        out["embeddings"] = vectors
        out["response_type"] = "embeddings_floats"
    return EmbeddingAnswer(out, sum(input_tokens(t) for t in texts))
