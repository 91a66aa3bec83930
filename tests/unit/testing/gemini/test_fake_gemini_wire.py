"""FakeGemini on the wire: strict request validation (400s shaped like Google's), auth, routes, Behavior
scripting, stream framing, recording and the control API. Every success body is checked with google-genai's own
(``extra="forbid"``) response types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
from google.genai import types as gt

from wardgate.testing import Behavior, RemoteFake
from wardgate.testing.fake_gemini import FakeGemini

KEY = "AIza-wire-key"
GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
VERTEX = "/v1/projects/p-123456/locations/us-central1/publishers/google/models/gemini-2.5-flash"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
TOOLS = [
    {"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}}]}
]


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=KEY, vertex_token="ya29.vertex") as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def post(
    session: aiohttp.ClientSession,
    fake: FakeGemini,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    **query: str,
) -> tuple[int, Any, bytes]:
    hdrs = {"x-goog-api-key": KEY} if headers is None else headers
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    async with session.post(fake.url + path, data=data, headers=hdrs, params=query) as response:
        raw = await response.read()
        try:
            return response.status, orjson.loads(raw), raw
        except orjson.JSONDecodeError:
            return response.status, None, raw


async def rejected(session: aiohttp.ClientSession, fake: FakeGemini, body: Any, model: str = "gemini-2.5-flash") -> str:
    status, parsed, _ = await post(session, fake, f"/v1beta/models/{model}:generateContent", body)
    assert status == 400, parsed
    assert parsed["error"]["code"] == 400 and parsed["error"]["status"] == "INVALID_ARGUMENT"
    message: str = parsed["error"]["message"]
    return message


def turn(role: str, *parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": role, "parts": list(parts)}


CALL = {"functionCall": {"name": "f", "args": {}}}
RESULT = {"functionResponse": {"name": "f", "response": {"ok": True}}}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"contents": []}, "contents is not specified"),
        ({**HELLO, "temperature": 1}, 'Unknown name "temperature"'),
        ({"contents": [turn("assistant", {"text": "x"}), turn("user", {"text": "y"})]}, "valid role"),
        ({"contents": [turn("user")]}, "must not be empty"),
        ({"contents": [turn("user", {"text": "a", "inlineData": {"mimeType": "image/png", "data": "AAAA"}})]}, "oneof"),
        ({"contents": [turn("user", {"inlineData": {"mimeType": "image/png", "data": "not base64!"}})]}, "Base64"),
        ({"contents": [turn("user", {"inlineData": {"data": "AAAA"}})]}, "mime_type"),
        ({"contents": [turn("user", {"text": "q"}), turn("user", RESULT)]}, "immediately after a function call"),
        (
            {"contents": [turn("user", {"text": "q"}), turn("model", CALL, CALL), turn("user", RESULT)]},
            "number of function response parts",
        ),
        (
            {"contents": [turn("user", {"text": "q"}), turn("model", {"text": "x"}), turn("model", CALL)]},
            "function call turn",
        ),
        ({"contents": [turn("user", CALL)]}, "model turns"),
        ({**HELLO, "tools": [{"functionDeclarations": [{"name": "9bad"}]}]}, "Invalid function name"),
        (
            {
                **HELLO,
                "tools": [
                    {
                        "functionDeclarations": [
                            {"name": "f", "parameters": {"type": "OBJECT", "additionalProperties": False}}
                        ]
                    }
                ],
            },
            'Unknown name "additionalProperties"',
        ),
        (
            {
                **HELLO,
                "tools": [
                    {"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {}}}]}
                ],
            },
            "should be non-empty for OBJECT type",
        ),
        (
            {
                **HELLO,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {
                                    "type": "OBJECT",
                                    "properties": {"u": {"type": "STRING", "format": "uri"}},
                                },
                            }
                        ]
                    }
                ],
            },
            "only 'date-time' and 'enum' are supported",
        ),
        (
            {
                **HELLO,
                "tools": [
                    {
                        "functionDeclarations": [
                            {
                                "name": "f",
                                "parameters": {"type": "OBJECT", "properties": {"u": {"description": "no type"}}},
                            }
                        ]
                    }
                ],
            },
            "must be specified",
        ),
        (
            {
                **HELLO,
                "tools": TOOLS,
                "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}},
            },
            "only allowed when",
        ),
        (
            {
                **HELLO,
                "tools": TOOLS,
                "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["g"]}},
            },
            "not declared",
        ),
        ({**HELLO, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}, "requires function declarations"),
        ({**HELLO, "generationConfig": {"responseSchema": {"type": "STRING"}}}, "response_mime_type"),
        ({**HELLO, "generationConfig": {"maxOutputTokens": "ten"}}, "TYPE_INT32"),
        ({**HELLO, "generationConfig": {"stopSequences": ["1", "2", "3", "4", "5", "6"]}}, "at most 5"),
        (
            {
                **HELLO,
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["b"]},
                },
            },
            "property is not defined",
        ),
        (
            {**HELLO, "systemInstruction": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}},
            "only text parts",
        ),
    ],
)
async def test_strict_validation(
    fake: FakeGemini, session: aiohttp.ClientSession, body: dict[str, Any], needle: str
) -> None:
    assert needle in await rejected(session, fake, body)


async def test_gemini_3_requires_thought_signatures_in_the_current_turn(
    fake: FakeGemini, session: aiohttp.ClientSession
) -> None:
    history = [turn("user", {"text": "q"}), turn("model", CALL), turn("user", RESULT)]
    assert "thought_signature" in await rejected(
        session, fake, {"contents": history, "tools": TOOLS}, "gemini-3-pro-preview"
    )
    signed = [history[0], turn("model", {**CALL, "thoughtSignature": "skip_thought_signature_validator"}), history[2]]
    status, _, _ = await post(
        session, fake, "/v1beta/models/gemini-3-pro-preview:generateContent", {"contents": signed, "tools": TOOLS}
    )
    assert status == 200
    older = [
        turn("user", {"text": "old"}),
        turn("model", CALL),
        turn("user", RESULT),
        turn("model", {"text": "done"}),
        turn("user", {"text": "new"}),
    ]
    status, _, _ = await post(
        session, fake, "/v1beta/models/gemini-3-pro-preview:generateContent", {"contents": older, "tools": TOOLS}
    )
    assert status == 200  # earlier turns are not checked, as documented


async def test_snake_case_proto_names_are_accepted(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "system_instruction": {"parts": [{"text": "s"}]},
        "generation_config": {"max_output_tokens": 2, "response_mime_type": "text/plain"},
    }
    status, parsed, _ = await post(session, fake, GEN, body)
    assert status == 200
    assert parsed["candidates"][0]["finishReason"] == "MAX_TOKENS"


async def test_auth(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    status, parsed, _ = await post(session, fake, GEN, HELLO, headers={})
    assert (status, parsed["error"]["status"]) == (403, "PERMISSION_DENIED")
    status, parsed, _ = await post(session, fake, GEN, HELLO, headers={"x-goog-api-key": "wrong"})
    assert (status, parsed["error"]["details"][0]["reason"]) == (400, "API_KEY_INVALID")
    status, _, _ = await post(session, fake, GEN, HELLO, headers={}, key=KEY)
    assert status == 200
    status, parsed, _ = await post(session, fake, VERTEX + ":generateContent", HELLO, headers={})
    assert (status, parsed["error"]["status"]) == (401, "UNAUTHENTICATED")
    status, parsed, _ = await post(
        session, fake, VERTEX + ":generateContent", HELLO, headers={"Authorization": "Bearer ya29.vertex"}
    )
    assert status == 200 and "createTime" in parsed
    gt.GenerateContentResponse.model_validate(parsed)


async def test_routes_and_not_found(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    for path in ("/v1beta/models/gemini-2.5-flash:explode", "/v1beta/models/:generateContent", "/nowhere"):
        status, parsed, _ = await post(session, fake, path, HELLO)
        assert status == 404 and parsed["error"]["status"] == "NOT_FOUND"
    status, parsed, _ = await post(session, fake, "/v1beta/models/gemini-2.5-flash:countTokens", HELLO)
    assert status == 200 and parsed == {"totalTokens": 2}
    async with session.get(fake.url + "/v1beta/models", headers={"x-goog-api-key": KEY}) as response:
        names = [m["name"] for m in (await response.json())["models"]]
    assert "models/gemini-2.5-flash" in names
    async with session.get(fake.url + "/v1beta/models/unknown", headers={"x-goog-api-key": KEY}) as response:
        assert response.status == 404
    fake.known_models = {"gemini-2.5-pro"}
    status, parsed, _ = await post(session, fake, GEN, HELLO)
    assert status == 404 and "models/gemini-2.5-flash is not found" in parsed["error"]["message"]


async def test_stream_framing_and_usage(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    fake.script(Behavior(content="a b c", chunks=3))
    async with session.post(
        fake.url + STREAM, params={"alt": "sse"}, data=orjson.dumps(HELLO), headers={"x-goog-api-key": KEY}
    ) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        raw = await r.read()
    frames = raw.split(b"\r\n\r\n")
    assert frames[-1] == b"" and all(f.startswith(b"data: ") for f in frames[:-1])
    chunks = [orjson.loads(f[6:]) for f in frames[:-1]]
    for chunk in chunks:
        gt.GenerateContentResponse.model_validate(chunk)
    assert [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks] == ["a", " b", " c"]
    assert ["finishReason" in c["candidates"][0] for c in chunks] == [False, False, True]
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 3
    assert "candidatesTokenCount" not in chunks[0]["usageMetadata"]
    assert fake.completed_streams == 1
    status, parsed, _ = await post(session, fake, STREAM, HELLO)  # without alt=sse: one JSON array
    assert status == 200 and isinstance(parsed, list) and parsed[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_stream_faults(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    fake.script(Behavior(disconnect_after=2))
    with pytest.raises(aiohttp.ClientPayloadError):
        async with session.post(
            fake.url + STREAM, params={"alt": "sse"}, data=orjson.dumps(HELLO), headers={"x-goog-api-key": KEY}
        ) as r:
            await r.read()
    fake.script(Behavior(malformed=True, content="a b", chunks=2))
    _, _, raw = await post(session, fake, STREAM, HELLO, alt="sse")
    frames = [f for f in raw.split(b"\r\n\r\n") if f]
    assert len(frames) == 3
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(frames[1][6:])
    fake.script(Behavior(malformed=True))
    status, parsed, _ = await post(session, fake, GEN, HELLO)
    assert status == 200 and parsed is None


async def test_client_leaving_mid_stream_is_counted(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    fake.script(Behavior(chunk_interval=0.05, chunks=40))
    async with session.post(
        fake.url + STREAM, params={"alt": "sse"}, data=orjson.dumps(HELLO), headers={"x-goog-api-key": KEY}
    ) as r:
        await r.content.readany()
    await fake.wait_for_cancelled(1, within=3)


async def test_behavior_fields(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    fake.script(
        Behavior(
            latency=0.05,
            headers={"x-extra": "1"},
            served_model="gemini-x",
            usage={"prompt_tokens": 9, "thoughtsTokenCount": 1},
        )
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, parsed, _ = await post(session, fake, GEN, HELLO)
    assert loop.time() - started >= 0.05
    assert parsed["modelVersion"] == "gemini-x"
    assert parsed["usageMetadata"]["promptTokenCount"] == 9
    assert parsed["usageMetadata"]["totalTokenCount"] == 9 + 20 + 1
    fake.script(
        Behavior(status=429, error_body={"error": {"code": 429, "message": "custom", "status": "RESOURCE_EXHAUSTED"}})
    )
    status, parsed, _ = await post(session, fake, GEN, HELLO)
    assert (status, parsed["error"]["message"]) == (429, "custom")
    body = {**HELLO, "generationConfig": {"candidateCount": 2, "stopSequences": ["This"]}}
    status, parsed, _ = await post(session, fake, GEN, body)
    assert [c["content"]["parts"][0]["text"] for c in parsed["candidates"]] == ["Hello! ", "Hello! "]
    assert [c["index"] for c in parsed["candidates"]] == [0, 1]


async def test_embeddings_routes(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    one = {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 4}
    status, parsed, _ = await post(session, fake, "/v1beta/models/gemini-embedding-001:embedContent", one)
    assert status == 200 and len(parsed["embedding"]["values"]) == 4
    gt.EmbedContentResponse.model_validate({"embeddings": [parsed["embedding"]]})
    batch = {"requests": [{"model": "models/other", "content": {"parts": [{"text": "hi"}]}}]}
    status, parsed, _ = await post(session, fake, "/v1beta/models/gemini-embedding-001:batchEmbedContents", batch)
    assert status == 400 and "model" in parsed["error"]["message"]
    predict = {
        "instances": [{"content": "hello world", "task_type": "RETRIEVAL_QUERY"}],
        "parameters": {"outputDimensionality": 3},
    }
    status, parsed, _ = await post(
        session,
        fake,
        VERTEX.replace("gemini-2.5-flash", "text-embedding-005") + ":predict",
        predict,
        headers={"Authorization": "Bearer ya29.vertex"},
    )
    assert status == 200
    assert parsed["predictions"][0]["embeddings"]["statistics"] == {"truncated": False, "token_count": 3}
    fake.script(Behavior(status=503, match_endpoint="embeddings"))
    status, parsed, _ = await post(session, fake, "/v1beta/models/gemini-embedding-001:embedContent", one)
    assert (status, parsed["error"]["status"]) == (503, "UNAVAILABLE")


async def test_token_endpoint_refusals(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    async with session.post(fake.token_url, data={"grant_type": "client_credentials"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "unsupported_grant_type"
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    async with session.post(fake.token_url, data={"grant_type": grant, "assertion": "a.b.c"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "invalid_grant"


async def test_recording_and_control_api(fake: FakeGemini, session: aiohttp.ClientSession) -> None:
    remote = RemoteFake(fake.url)
    await asyncio.to_thread(remote.script, Behavior(content="scripted"))
    _, parsed, _ = await post(session, fake, GEN, HELLO)
    assert parsed["candidates"][0]["content"]["parts"][0]["text"] == "scripted"
    recorded = fake.last_request
    assert recorded is not None and recorded.path == GEN and recorded.json == HELLO
    assert recorded.headers["x-goog-api-key"] == KEY
    stats = await asyncio.to_thread(remote.stats)
    assert stats["requests"] == 1
    fake.reset()
    assert fake.requests == [] and fake.request_count == 0
