"""Golden files for the Gemini adapter: OpenAI request → Gemini call, Gemini response → OpenAI completion,
Gemini SSE stream → OpenAI chunks, embeddings both ways.

Each file holds the input and the reviewed ``expected`` output. Both sides are also checked against the official
types: OpenAI outputs with the ``openai`` SDK, Gemini bodies with ``google-genai``'s (``extra="forbid"``) models,
and every translated request must pass the fake's strict validator (the checks the real API applies).
Regenerate after a deliberate change with ``WARDGATE_REGEN_GOLDEN=1 pytest …`` and review the diff.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.genai import types as gt
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from wardgate.providers.gemini import GeminiAdapter
from wardgate.providers.translate import TranslationContext
from wardgate.testing.fake_gemini.validate import validate_generate

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("WARDGATE_REGEN_GOLDEN") == "1"


def _names(prefix: str) -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob(f"{prefix}_*.json"))


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads((GOLDEN / f"{name}.json").read_bytes())
    return data


def _check(name: str, case: dict[str, Any], produced: Any) -> None:
    if REGEN:
        case["expected"] = produced
        (GOLDEN / f"{name}.json").write_bytes(orjson.dumps(case, option=orjson.OPT_INDENT_2) + b"\n")
    assert produced == case["expected"]


def _ctx(case: dict[str, Any], *, stream: bool = False, include_usage: bool = False) -> TranslationContext:
    return TranslationContext(
        upstream_model=case["model"],
        request_model="alias",
        response_id="chatcmpl-golden",
        created=1700000000,
        stream=stream,
        include_usage=include_usage,
    )


def _adapter(flavor: str) -> GeminiAdapter:
    if flavor == "vertex":
        return GeminiAdapter("vertex", project="golden-project", location="us-central1")
    return GeminiAdapter("gemini")


def _sdk_check_request(body: dict[str, Any]) -> None:
    """Every part of the body parses with google-genai's own (extra-forbidding) types."""
    for content in body["contents"]:
        gt.Content.model_validate(content)
    if "systemInstruction" in body:
        gt.Content.model_validate(body["systemInstruction"])
    for tool in body.get("tools", []):
        gt.Tool.model_validate(tool)
    if "toolConfig" in body:
        gt.ToolConfig.model_validate(body["toolConfig"])
    if "generationConfig" in body:
        gt.GenerationConfig.model_validate(body["generationConfig"])


@pytest.mark.parametrize("name", _names("request"))
def test_request_golden(name: str) -> None:
    case = _load(name)
    original = copy.deepcopy(case["openai"])
    call = _adapter(case["flavor"]).chat_call(case["openai"], _ctx(case, stream=case["stream"]))
    body = orjson.loads(call.body)
    _check(name, case, {"path": call.path, "query": call.query, "stream": call.stream, "body": body})
    assert case["openai"] == original, "translation must not mutate its input"
    validate_generate(body, vertex=case["flavor"] == "vertex", model=case["model"])
    _sdk_check_request(body)


@pytest.mark.parametrize("name", _names("response"))
def test_response_golden(name: str) -> None:
    case = _load(name)
    gt.GenerateContentResponse.model_validate(case["gemini"])
    result = GeminiAdapter().chat_response(orjson.dumps(case["gemini"]), _ctx(case))
    _check(name, case, result)
    ChatCompletion.model_validate(result)


def _translate_stream(case: dict[str, Any], pieces: list[bytes]) -> list[dict[str, Any]]:
    translator = GeminiAdapter().chat_stream(_ctx(case, stream=True, include_usage=case["include_usage"]))
    out: list[dict[str, Any]] = []
    for piece in pieces:
        out.extend(translator.feed(piece))
    out.extend(translator.finish())
    return out


@pytest.mark.parametrize("name", _names("stream"))
def test_stream_golden(name: str) -> None:
    case = _load(name)
    raw = case["sse"].encode()
    for line in case["sse"].split("\r\n\r\n"):
        if line:
            gt.GenerateContentResponse.model_validate(orjson.loads(line.removeprefix("data: ")))
    whole = _translate_stream(case, [raw])
    bytewise = _translate_stream(case, [raw[i : i + 1] for i in range(len(raw))])
    assert whole == bytewise
    _check(name, case, whole)
    for chunk in whole:
        ChatCompletionChunk.model_validate(chunk)


@pytest.mark.parametrize("name", _names("embeddings"))
def test_embeddings_golden(name: str) -> None:
    case = _load(name)
    adapter = _adapter(case["flavor"])
    ctx = _ctx(case)
    call = adapter.embeddings_call(case["openai"], ctx)
    result = adapter.embeddings_response(orjson.dumps(case["response"]), ctx)
    produced = {"path": call.path, "body": orjson.loads(call.body), "openai": result}
    _check(name, case, produced)
    CreateEmbeddingResponse.model_validate(result)
