"""Embedding bodies of the fake: Gemini ``embedContent`` / ``batchEmbedContents`` and Vertex ``predict``.

https://ai.google.dev/api/embeddings and
https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api. Vectors are the
deterministic unit vectors of :mod:`wardgate.testing.embeddings` (same input → same vector).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from wardgate.testing.embeddings import vector
from wardgate.testing.fake_gemini.validate import fail, reject_unknown

JSONDict = dict[str, Any]
_EMBED_FIELDS = frozenset({"model", "content", "taskType", "title", "outputDimensionality"})
MAX_BATCH = 100


def _text_of(content: Any, where: str) -> str:
    if not isinstance(content, Mapping):
        raise fail(f"* {where}.content: content is not specified\n")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise fail(f"* {where}.content.parts: contents.parts must not be empty.\n")
    texts = [p.get("text") for p in parts if isinstance(p, Mapping)]
    if not all(isinstance(t, str) for t in texts) or len(texts) != len(parts):
        raise fail(f"* {where}.content.parts: only text parts can be embedded\n")
    return "".join(t for t in texts if isinstance(t, str))


def _dims(value: Any, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise fail("* output_dimensionality: must be a positive integer\n")
    return value


def embed_content(body: JSONDict, model: str, dim: int) -> JSONDict:
    reject_unknown(body, _EMBED_FIELDS)
    text = _text_of(body.get("content"), "EmbedContentRequest")
    return {"embedding": {"values": vector(text, _dims(body.get("outputDimensionality"), dim))[0]}}


def batch_embed(body: JSONDict, model: str, dim: int) -> JSONDict:
    reject_unknown(body, frozenset({"requests"}))
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise fail("* BatchEmbedContentsRequest.requests: requests is not specified\n")
    if len(requests) > MAX_BATCH:
        raise fail(f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests can be in one batch\n")
    out = []
    for index, item in enumerate(requests):
        where = f"BatchEmbedContentsRequest.requests[{index}]"
        if not isinstance(item, Mapping):
            raise fail(f"* {where}: must be an object\n")
        reject_unknown(item, _EMBED_FIELDS, f"requests[{index}]")
        if item.get("model") != f"models/{model}":
            raise fail(f"* {where}.model: model must be models/{model}, the model of the request URL\n")
        text = _text_of(item.get("content"), where)
        out.append({"values": vector(text, _dims(item.get("outputDimensionality"), dim))[0]})
    return {"embeddings": out}


def vertex_predict(body: JSONDict, model: str, dim: int) -> JSONDict:
    reject_unknown(body, frozenset({"instances", "parameters"}))
    instances = body.get("instances")
    if not isinstance(instances, list) or not instances:
        raise fail("instances must be a non-empty list")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise fail("parameters must be an object")
    reject_unknown(parameters, frozenset({"outputDimensionality", "autoTruncate"}), "parameters")
    dims = _dims(parameters.get("outputDimensionality"), dim)
    predictions = []
    characters = 0
    for instance in instances:
        if not isinstance(instance, Mapping) or not isinstance(instance.get("content"), str):
            raise fail("each instance needs a string `content`")
        reject_unknown(instance, frozenset({"content", "task_type", "title"}), "instances")
        text = instance["content"]
        characters += len(text)
        stats = {"truncated": False, "token_count": max(1, math.ceil(len(text) / 4))}
        predictions.append({"embeddings": {"statistics": stats, "values": vector(text, dims)[0]}})
    return {"predictions": predictions, "metadata": {"billableCharacterCount": characters}}
