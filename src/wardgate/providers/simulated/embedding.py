"""Embeddings of the simulated provider: deterministic, unit-length vectors from a hashed bag-of-words
projection (plus word bigrams and a little per-text noise), so that texts sharing words are closer than
unrelated texts, rendered as an OpenAI ``CreateEmbeddingResponse`` dict (float or base64 float32 encoding).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import random
import re
import struct
from collections.abc import Mapping
from typing import Any

from .errors import SimulatedRequestError
from .text import STOPWORDS, estimate_tokens

__all__ = ["DEFAULT_DIMENSIONS", "embed", "embedding_vector"]

DEFAULT_DIMENSIONS = 1536
LARGE_MODEL_DIMENSIONS = 3072
_MAX_INPUTS = 2048
_SLOTS_PER_FEATURE = 8  # each word feeds this many signed coordinates
_STOPWORD_WEIGHT = 0.25
_BIGRAM_WEIGHT = 0.35
_NOISE_WEIGHT = 0.12  # share of the vector's norm that is text-specific noise
_WORD_RE = re.compile(r"[^\W_]+")


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _features(text: str) -> dict[str, float]:
    words = [_stem(w) for w in _WORD_RE.findall(text.lower())]
    weights: dict[str, float] = {}
    for word in words:
        weight = _STOPWORD_WEIGHT if word in STOPWORDS else 1.0
        weights["w:" + word] = weights.get("w:" + word, 0.0) + weight
    for left, right in itertools.pairwise(words):
        key = f"b:{left} {right}"
        weights[key] = weights.get(key, 0.0) + _BIGRAM_WEIGHT
    # sub-linear term frequency, so a repeated word does not dominate
    return {k: 1.0 + math.log(v) if v >= 1.0 else v for k, v in weights.items()}


def _normalise(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """The unit vector of ``text``: identical (case/punctuation-insensitive) texts give identical vectors."""
    signal = [0.0] * dimensions
    for feature, weight in _features(text).items():
        digest = hashlib.blake2b(feature.encode(), digest_size=4 * _SLOTS_PER_FEATURE).digest()
        for i in range(_SLOTS_PER_FEATURE):
            slot = int.from_bytes(digest[4 * i : 4 * i + 4], "little")
            signal[(slot >> 1) % dimensions] += weight if slot & 1 else -weight
    canonical = " ".join(_WORD_RE.findall(text.lower()))
    rng = random.Random(hashlib.sha256(canonical.encode()).digest())
    noise = _normalise([rng.gauss(0.0, 1.0) for _ in range(dimensions)])
    signal = _normalise(signal)
    if not any(signal):
        return noise
    mix = [math.sqrt(1 - _NOISE_WEIGHT**2) * s + _NOISE_WEIGHT * n for s, n in zip(signal, noise, strict=True)]
    return _normalise(mix)


def _inputs(raw: Any) -> list[tuple[str, int]]:
    """(text, token count) per input; token arrays become pseudo-words so they hash like text."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise SimulatedRequestError("'input' must be a non-empty string or array", param="input")
    if all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        raw = [raw]
    if len(raw) > _MAX_INPUTS:
        raise SimulatedRequestError(f"'input' may hold at most {_MAX_INPUTS} items", param="input")
    out: list[tuple[str, int]] = []
    for item in raw:
        if isinstance(item, str) and item:
            out.append((item, estimate_tokens(item)))
        elif isinstance(item, list) and item and all(isinstance(x, int) and not isinstance(x, bool) for x in item):
            out.append((" ".join(f"t{x}" for x in item), len(item)))
        else:
            raise SimulatedRequestError("each input must be a non-empty string or token array", param="input")
    return out


def _dimensions(body: Mapping[str, Any]) -> int:
    model = str(body.get("model") or "")
    default = LARGE_MODEL_DIMENSIONS if "3-large" in model else DEFAULT_DIMENSIONS
    dims = body.get("dimensions", default)
    if dims is None:
        return default
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= LARGE_MODEL_DIMENSIONS:
        raise SimulatedRequestError(
            f"'dimensions' must be an integer between 1 and {LARGE_MODEL_DIMENSIONS}", param="dimensions"
        )
    return dims


def embed(body: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """Answer an OpenAI Embeddings request body with a ``CreateEmbeddingResponse``-shaped dict."""
    inputs = _inputs(body.get("input"))
    dims = _dimensions(body)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise SimulatedRequestError("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    data: list[dict[str, Any]] = []
    for index, (text, _) in enumerate(inputs):
        vector = embedding_vector(text, dims)
        packed = struct.pack(f"<{dims}f", *vector)
        value: Any = (
            base64.b64encode(packed).decode("ascii")
            if encoding == "base64"
            # float32-rounded: the same numbers a client decodes from the base64 form
            else list(struct.unpack(f"<{dims}f", packed))
        )
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(count for _, count in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
