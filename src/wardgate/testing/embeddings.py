"""Deterministic fake embeddings and the ``/embeddings`` response body (float or base64 encoding)."""

from __future__ import annotations

import base64
import math
import random
import sys
import zlib
from array import array
from functools import lru_cache
from typing import Any

JSONDict = dict[str, Any]
DEFAULT_EMBEDDING_DIM = 1536


def normalize_inputs(raw: Any) -> list[str] | None:
    """The request's ``input`` as one cache key per embedding, or None when the shape is invalid.

    Accepts a string, a list of strings, a token list (list of ints) or a list of token lists.
    """
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(x, int) for x in raw):
        return [_tokens_key(raw)]
    out: list[str] = []
    for item in raw:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list) and all(isinstance(x, int) for x in item):
            out.append(_tokens_key(item))
        else:
            return None
    return out


def _tokens_key(tokens: list[int]) -> str:
    return "\x00tokens:" + ",".join(map(str, tokens))


def input_tokens(key: str) -> int:
    """Token count of one input: list length for token inputs, ≈ chars / 4 for text."""
    if key.startswith("\x00tokens:"):
        body = key[len("\x00tokens:") :]
        return body.count(",") + 1 if body else 0
    return max(1, math.ceil(len(key) / 4))


@lru_cache(maxsize=4096)
def vector(key: str, dim: int) -> tuple[list[float], str]:
    """A unit-length float32 vector seeded by the input: (float values, base64 little-endian bytes)."""
    rng = random.Random(zlib.crc32(key.encode("utf-8", "surrogatepass")))
    values = [rng.random() - 0.5 for _ in range(dim)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    packed = array("f", (v / norm for v in values))
    floats = packed.tolist()
    if sys.byteorder != "little":
        packed.byteswap()
    return floats, base64.b64encode(packed.tobytes()).decode("ascii")


def embeddings_body(
    keys: list[str], model: str, dim: int, encoding: str, usage_override: JSONDict | None = None
) -> JSONDict:
    """A ``CreateEmbeddingResponse`` body; ``encoding`` is "float" or "base64"."""
    use_b64 = encoding == "base64"
    data = []
    for index, key in enumerate(keys):
        floats, b64 = vector(key, dim)
        data.append({"object": "embedding", "index": index, "embedding": b64 if use_b64 else floats})
    prompt = sum(input_tokens(k) for k in keys)
    usage: JSONDict = {"prompt_tokens": prompt, "total_tokens": prompt}
    if usage_override:
        usage.update(usage_override)
    return {"object": "list", "data": data, "model": model, "usage": usage}
