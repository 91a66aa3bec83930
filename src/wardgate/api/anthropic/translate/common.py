"""Small helpers shared by the request translators: key checks, ``cache_control`` markers and images."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wardgate.core.errors import InvalidRequestError

JSONDict = dict[str, Any]

CACHE_TTLS = frozenset({"5m", "1h"})


def present(value: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``value`` that are not null (Anthropic treats ``null`` as absent)."""
    return {k: v for k, v in value.items() if v is not None}


def check_keys(value: Mapping[str, Any], allowed: Iterable[str], where: str, what: str) -> None:
    """Refuse any non-null field of ``value`` outside ``allowed`` (nothing is dropped silently)."""
    allowed_set = frozenset(allowed)
    for key, item in value.items():
        if key not in allowed_set and item is not None:
            raise InvalidRequestError(
                f"`{key}` is not supported on {what} when the model is served by a non-Anthropic provider",
                param=f"{where}.{key}",
            )


def cache_control(value: Any, where: str) -> JSONDict:
    """A copy of a valid ``cache_control`` marker (``{"type": "ephemeral"}`` with an optional ``ttl``)."""
    if not isinstance(value, Mapping) or value.get("type") != "ephemeral":
        raise InvalidRequestError('cache_control must be {"type": "ephemeral"} with an optional ttl', param=where)
    ttl = value.get("ttl")
    if ttl is not None and ttl not in CACHE_TTLS:
        raise InvalidRequestError("cache_control.ttl must be '5m' or '1h'", param=f"{where}.ttl")
    check_keys(value, ("type", "ttl"), where, "cache_control")
    return present(value)


def with_cache(part: JSONDict, block: Mapping[str, Any], where: str) -> JSONDict:
    """``part`` with the block's ``cache_control`` marker, when it has one."""
    if block.get("cache_control") is not None:
        part["cache_control"] = cache_control(block["cache_control"], f"{where}.cache_control")
    return part


def text_of(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise InvalidRequestError("a text block needs a string `text`", param=f"{where}.text")
    citations = block.get("citations")
    if citations:
        raise InvalidRequestError(
            "text block citations are not supported when the model is served by a non-Anthropic provider",
            param=f"{where}.citations",
        )
    return text


def text_part(block: Mapping[str, Any], where: str) -> JSONDict:
    """An OpenAI text part for an Anthropic ``text`` block (its ``cache_control`` kept)."""
    check_keys(block, ("type", "text", "cache_control", "citations"), where, "text blocks")
    return with_cache({"type": "text", "text": text_of(block, where)}, block, where)


def image_part(block: Mapping[str, Any], where: str) -> JSONDict:
    """An OpenAI ``image_url`` part for an Anthropic ``image`` block: base64 → data URL, url → the URL."""
    check_keys(block, ("type", "source", "cache_control"), where, "image blocks")
    source = block.get("source")
    if not isinstance(source, Mapping) or source.get("type") not in ("base64", "url", "file"):
        raise InvalidRequestError("an image needs a base64 or url source", param=f"{where}.source")
    if source["type"] == "file":
        raise InvalidRequestError(
            "Files API image sources are only available when the model is served by Anthropic",
            param=f"{where}.source",
        )
    return with_cache({"type": "image_url", "image_url": {"url": _image_url(source, where)}}, block, where)


def _image_url(source: Mapping[str, Any], where: str) -> str:
    if source["type"] == "url":
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise InvalidRequestError("a url image source needs an http(s) url", param=f"{where}.source.url")
        return url
    media_type, data = source.get("media_type"), source.get("data")
    if not isinstance(media_type, str) or not isinstance(data, str) or not data:
        raise InvalidRequestError("a base64 image source needs media_type and data", param=f"{where}.source")
    return f"data:{media_type};base64,{data}"
