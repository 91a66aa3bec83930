"""Counting a request's prompt tokens before the call, once (``prompt_tokens`` stores the count on the request).

**OpenAI models** (``encodings.encoding_for`` knows the model) are counted with the model's own vocabulary through
toktok-rs, whose counts are identical to tiktoken's and whose vocabularies are compiled into its wheel (nothing is
downloaded at run time). Chat bodies follow OpenAI's published formula ("How to count tokens with tiktoken",
https://github.com/openai/openai-cookbook/blob/main/examples/How_to_count_tokens_with_tiktoken.ipynb): 3 tokens
per message, every string field of a message counted (role, content, name, ...), +1 per ``name``, +3 priming the
reply; tool definitions use the cookbook's function formula (``ToolOverhead``). That reproduces the cookbook's
published API counts (129/124 for its chat example, 105/101 with its tool). Parts the cookbook does not cover are
documented approximations: an image is 85 tokens at ``detail: "low"`` and otherwise 765, a 1024x1024 high-detail
image (https://platform.openai.com/docs/guides/images-vision#calculating-costs); audio and file parts count 0;
a ``json_schema`` response format counts as its JSON text; nested tool parameter schemas count as their JSON text.

**Every other model** (Anthropic, Gemini, Bedrock, open models) is an *estimate*: the same text and the same
per-message overhead counted with cl100k_base (``exact=False``). Those providers' tokenizers differ: Anthropic's
typically count some 10-30% more than cl100k_base for the same English text (more for code), Gemini's SentencePiece
vocabulary lands within roughly ±15% for English and lower for many non-Latin scripts. The estimate only sizes the
reservation before the call; reconciliation replaces it with the usage the provider reports (``usage``).

A native request only its own dialect can serve (``request.untranslatable``), or a body of an unexpected shape,
is counted generically: every string under the text-bearing keys (messages, system, input, instructions,
content, ...), 3 tokens per message or input item, images at 765 — an estimate whatever the model.

All texts of one request are gathered first and counted in one place (``_count``), on the calling thread. A
typical request is counted text by text with ``toktok.truncate(text, <no limit>)``, the supported API's
single-text count ("total_tokens is the count of the whole input"; identical to ``batch_count`` and tiktoken,
tested): measured with toktok-rs 0.3.0 on the 2-core target machine, one ``batch_count`` call costs a fixed ~28 µs
even with ``threads=1``, more than counting a whole 1 KB chat body. Requests with many texts (``_BATCH_FROM``,
e.g. large embedding batches) go to one ``batch_count(threads=1)`` call, which wins there.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Final

import orjson
import toktok  # type: ignore[import-untyped]  # ships no type information

from wardgate.core.types import Endpoint, ProxyRequest
from wardgate.tokens.encodings import CL100K, FALLBACK_ENCODING, encoding_for

TOKENS_PER_MESSAGE: Final = 3
TOKENS_PER_NAME: Final = 1
REPLY_PRIMER: Final = 3
IMAGE_LOW_DETAIL: Final = 85
IMAGE_HIGH_DETAIL: Final = 765

_NO_LIMIT: Final = 2**63 - 1
"""A token limit no text reaches, so ``toktok.truncate`` only counts (and returns its input as it is)."""
_BATCH_FROM: Final = 128
"""From this many texts one ``batch_count(threads=1)`` call beats per-text counting (its ~28 µs fixed cost is
repaid by ~0.4 µs less per text: e.g. 2,048 embedding inputs take 320 µs batched, 855 µs one by one)."""
_ROLE_TOKENS: Final = {"system": 1, "developer": 1, "user": 1, "assistant": 1, "tool": 1, "function": 1}
"""Roles are one token in every bundled encoding (tested): no need to hand them to the tokenizer."""
_IMAGE_TYPES: Final = frozenset({"image_url", "input_image", "image"})
_TEXT_KEYS: Final = frozenset(
    {"messages", "system", "input", "instructions", "content", "text", "thinking", "arguments", "output", "summary"}
)
"""Keys whose values the generic walk descends into: where request text lives in the Chat, Responses and
Anthropic Messages shapes (ids, signatures, base64 data and URLs live under other keys)."""
_ITEM_KEYS: Final = frozenset({"messages", "input"})
"""Lists of conversation items, each charged the per-message overhead."""
_TOOL_USE_TYPES: Final = frozenset({"tool_use", "server_tool_use"})


@dataclass(frozen=True, slots=True)
class ToolOverhead:
    """The cookbook's fixed costs of rendering function definitions into the prompt (section 7)."""

    func_init: int
    prop_init: int
    prop_key: int
    enum_init: int
    enum_item: int
    func_end: int


TOOLS_O200K: Final = ToolOverhead(func_init=7, prop_init=3, prop_key=3, enum_init=-3, enum_item=3, func_end=12)
"""gpt-4o / gpt-4o-mini, and by extension every o200k_base model."""
TOOLS_CL100K: Final = ToolOverhead(func_init=10, prop_init=3, prop_key=3, enum_init=-3, enum_item=3, func_end=12)
"""gpt-3.5-turbo / gpt-4."""


@dataclass(frozen=True, slots=True)
class PromptCount:
    tokens: int
    exact: bool
    """True when counted with the model's own vocabulary and the chat or embeddings formula; False for an
    estimate (cl100k_base standing in for another provider's tokenizer, or the generic walk)."""
    encoding: str


class _Tally:
    """Texts to count in one batch, plus the fixed overhead tokens met on the way."""

    __slots__ = ("fixed", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.fixed = 0

    def add(self, value: object) -> None:
        if isinstance(value, str) and value:
            self.texts.append(value)

    def json(self, value: object) -> None:
        with contextlib.suppress(TypeError):  # orjson.JSONEncodeError: nesting deeper than orjson writes
            self.texts.append(orjson.dumps(value).decode())


def prompt_tokens(request: ProxyRequest, model: str | None) -> int:
    """The request's prompt tokens: ``request.prompt_tokens`` when a stage already counted them, otherwise
    counted now (for the upstream ``model``) and stored there, so no later stage counts again."""
    if request.prompt_tokens is None:
        request.prompt_tokens = count_prompt(request, model).tokens
    return request.prompt_tokens


def count_prompt(request: ProxyRequest, model: str | None) -> PromptCount:
    """Count the prompt of a parsed request for the upstream ``model`` (see the module docstring)."""
    own = encoding_for(model)
    encoding = own or FALLBACK_ENCODING
    tally = _Tally()
    if _collect(request, tally, encoding):
        exact = own is not None
    else:
        tally = _Tally()
        _walk(request.native.body if request.native is not None else request.body, tally)
        exact = False
    return PromptCount(tokens=max(0, tally.fixed + _count(tally.texts, encoding)), exact=exact, encoding=encoding)


def _count(texts: list[str], encoding: str) -> int:
    if len(texts) >= _BATCH_FROM:
        try:
            return sum(toktok.batch_count(texts, encoding, threads=1))
        except UnicodeEncodeError:
            pass  # counted one by one below, where a bad text is cleaned
    total = 0
    for text in texts:
        try:
            total += toktok.truncate(text, _NO_LIMIT, encoding)[1]
        except UnicodeEncodeError:
            # A lone surrogate has no UTF-8 form; the JSON parsers refuse them, but a body built in code might not.
            total += toktok.truncate(text.encode("utf-8", "replace").decode("utf-8"), _NO_LIMIT, encoding)[1]
    return int(total)


def _collect(request: ProxyRequest, tally: _Tally, encoding: str) -> bool:
    """Fill ``tally`` from a canonical body; False when the body has no form the formulas cover."""
    if request.untranslatable is not None:
        return False
    body = request.body
    if request.endpoint is Endpoint.EMBEDDINGS:
        return _embeddings(body.get("input"), tally)
    messages = body.get("messages")
    if not isinstance(messages, list):
        return False
    for message in messages:
        tally.fixed += TOKENS_PER_MESSAGE
        if isinstance(message, dict):
            _message(message, tally)
    tally.fixed += REPLY_PRIMER
    functions = [t.get("function") if t.get("type") == "function" else t for t in _dicts(body.get("tools"))]
    functions += _dicts(body.get("functions"))  # the deprecated form: bare function definitions
    _functions(functions, tally, TOOLS_CL100K if encoding == CL100K else TOOLS_O200K)
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        tally.json(response_format.get("json_schema"))
    return True


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _message(message: dict[str, Any], tally: _Tally) -> None:
    for key, value in message.items():
        if isinstance(value, str):
            if key == "role" and value in _ROLE_TOKENS:
                tally.fixed += _ROLE_TOKENS[value]
                continue
            tally.add(value)
            if key == "name":
                tally.fixed += TOKENS_PER_NAME
        elif key == "content" and isinstance(value, list):
            _parts(value, tally)
        elif key == "tool_calls" and isinstance(value, list):
            for call in _dicts(value):
                function = call.get("function")
                if isinstance(function, dict):
                    tally.add(function.get("name"))
                    tally.add(function.get("arguments"))
        elif key == "function_call" and isinstance(value, dict):
            tally.add(value.get("name"))
            tally.add(value.get("arguments"))


def _parts(parts: list[Any], tally: _Tally) -> None:
    for part in _dicts(parts):
        kind = part.get("type")
        if kind in _IMAGE_TYPES:
            image = part.get("image_url")
            detail = image.get("detail") if isinstance(image, dict) else part.get("detail")
            tally.fixed += IMAGE_LOW_DETAIL if detail == "low" else IMAGE_HIGH_DETAIL
        elif kind == "refusal":
            tally.add(part.get("refusal"))
        else:
            tally.add(part.get("text"))


def _functions(functions: list[Any], tally: _Tally, overhead: ToolOverhead) -> None:
    """The cookbook's ``num_tokens_for_tools``; a tool that is not a function counts as its JSON text."""
    if not functions:
        return
    for function in functions:
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            tally.json(function)
            continue
        tally.fixed += overhead.func_init
        description = function.get("description")
        description = description.removesuffix(".") if isinstance(description, str) else ""
        tally.add(f"{function['name']}:{description}")
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if isinstance(properties, dict) and properties:
            tally.fixed += overhead.prop_init
            for key, schema in properties.items():
                _property(str(key), schema if isinstance(schema, dict) else {}, tally, overhead)
    tally.fixed += overhead.func_end


def _property(name: str, schema: dict[str, Any], tally: _Tally, overhead: ToolOverhead) -> None:
    tally.fixed += overhead.prop_key
    enum = schema.get("enum")
    if isinstance(enum, list):
        tally.fixed += overhead.enum_init + overhead.enum_item * len(enum)
        for item in enum:
            if isinstance(item, str):
                tally.add(item)
            else:
                tally.json(item)
    description = schema.get("description")
    description = description.removesuffix(".") if isinstance(description, str) else ""
    tally.add(f"{name}:{_type_text(schema.get('type'))}:{description}")
    # Beyond the cookbook: nested objects, arrays and combinators count as their JSON text (an approximation).
    rest = {k: v for k, v in schema.items() if k not in ("type", "description", "enum")}
    if rest:
        tally.json(rest)


def _type_text(kind: object) -> str:
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):  # e.g. ["string", "null"]
        return " | ".join(item for item in kind if isinstance(item, str))
    return ""


def _embeddings(given: object, tally: _Tally) -> bool:
    """A string, a list of strings, a list of token ids, or a list of such lists (ids are one token each)."""
    if isinstance(given, str):
        tally.add(given)
        return True
    if not isinstance(given, list):
        return False
    for item in given:
        if isinstance(item, str):
            tally.add(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            tally.fixed += 1
        elif isinstance(item, list):
            tally.fixed += len(item)
    return True


def _walk(body: object, tally: _Tally) -> None:
    """The generic estimate: strings under text-bearing keys, iteratively (no recursion limit to hit)."""
    if not isinstance(body, dict):
        return
    stack: list[tuple[str, object]] = [(key, value) for key, value in body.items() if key in _TEXT_KEYS]
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        tally.json(tools)
    tally.fixed += REPLY_PRIMER
    while stack:
        key, value = stack.pop()
        if isinstance(value, str):
            tally.add(value)
        elif isinstance(value, list):
            if key in _ITEM_KEYS:
                tally.fixed += TOKENS_PER_MESSAGE * len(value)
            stack.extend((key if key in _ITEM_KEYS else "", item) for item in value)
        elif isinstance(value, dict):
            kind = value.get("type")
            if kind in _IMAGE_TYPES:
                tally.fixed += IMAGE_HIGH_DETAIL
            elif kind in _TOOL_USE_TYPES:
                tally.add(value.get("name"))
                tally.json(value.get("input"))
            else:
                stack.extend((k, v) for k, v in value.items() if k in _TEXT_KEYS or k == "name")
