"""FakeGemini checked through the official ``google-genai`` SDK: Gemini API (async and sync via a thread) and
Vertex AI (with google-auth's own service-account flow against the fake /token endpoint)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from google.oauth2 import service_account

from wardgate.testing import Behavior, FakeServerThread, ToolCall
from wardgate.testing.fake_gemini import FakeGemini, make_service_account

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

KEY = "AIza-fake-key"
MODEL = "gemini-2.5-flash"
NO_RETRY = types.HttpRetryOptions(attempts=1)


@pytest.fixture
async def fake() -> AsyncIterator[FakeGemini]:
    async with FakeGemini(api_key=KEY) as server:
        yield server


@pytest.fixture
def client(fake: FakeGemini) -> genai.Client:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=fake.url, retry_options=NO_RETRY))


def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather in a city."""
    return "sunny"


async def test_generate_text(client: genai.Client) -> None:
    response = await client.aio.models.generate_content(
        model=MODEL, contents="Hello", config=types.GenerateContentConfig(system_instruction="Be brief")
    )
    assert response.text == " ".join(
        ["Hello!", "This", "is", "a", "reply", "from", "the", "fake", "Gemini", "server."] * 2
    )
    assert response.candidates and response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata and response.usage_metadata.candidates_token_count == 20
    assert response.response_id and response.model_version == MODEL


async def test_stream_ends_with_finish_reason_and_usage(client: genai.Client, fake: FakeGemini) -> None:
    fake.script(Behavior(content="one two three four", chunks=4))
    chunks = [c async for c in await client.aio.models.generate_content_stream(model=MODEL, contents="Hi")]
    assert [c.text for c in chunks] == ["one", " two", " three", " four"]
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert chunks[-1].usage_metadata and chunks[-1].usage_metadata.candidates_token_count == 4
    assert fake.last_request is not None and fake.last_request.query == {"alt": "sse"}


async def test_function_calling_any_mode_and_round_trip(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        tools=[get_weather],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
        ),
    )
    response = await client.aio.models.generate_content(model=MODEL, contents="Weather in Paris?", config=config)
    assert response.function_calls and response.function_calls[0].name == "get_weather"
    assert set(response.function_calls[0].args or {}) == {"city", "unit"}
    assert response.candidates and response.candidates[0].content
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        response.candidates[0].content,
        types.Content(
            role="user", parts=[types.Part.from_function_response(name="get_weather", response={"result": "sunny"})]
        ),
    ]
    final = await client.aio.models.generate_content(
        model=MODEL, contents=history, config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert final.text


async def test_scripted_parallel_calls(client: genai.Client, fake: FakeGemini) -> None:
    fake.script(
        Behavior(
            tool_calls=[ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Rome"}, id="c2")]
        )
    )
    config = types.GenerateContentConfig(
        tools=[get_weather], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    response = await client.aio.models.generate_content(model=MODEL, contents="Both?", config=config)
    calls = response.function_calls or []
    assert [(c.name, (c.args or {})["city"], c.id) for c in calls] == [
        ("get_weather", "Paris", None),
        ("get_weather", "Rome", "c2"),
    ]


async def test_json_schema_answer_parses(client: genai.Client) -> None:
    schema = {
        "type": "OBJECT",
        "properties": {"title": {"type": "STRING"}, "n": {"type": "INTEGER"}},
        "required": ["title", "n"],
    }
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=schema)
    response = await client.aio.models.generate_content(model=MODEL, contents="x", config=config)
    assert response.parsed == {"title": "example", "n": 1}


async def test_thinking_returns_thought_parts(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True)
    )
    response = await client.aio.models.generate_content(model=MODEL, contents="x", config=config)
    parts = response.candidates[0].content.parts if response.candidates and response.candidates[0].content else []
    assert parts and parts[0].thought is True
    assert response.usage_metadata and (response.usage_metadata.thoughts_token_count or 0) > 0


async def test_images_and_embeddings(client: genai.Client) -> None:
    png = bytes.fromhex("89504e470d0a1a0a")
    response = await client.aio.models.generate_content(
        model=MODEL, contents=[types.Part.from_bytes(data=png, mime_type="image/png"), "What is this?"]
    )
    assert response.usage_metadata and (response.usage_metadata.prompt_token_count or 0) >= 258
    embedded = await client.aio.models.embed_content(
        model="gemini-embedding-001",
        contents=["a", "b", "a"],
        config=types.EmbedContentConfig(output_dimensionality=32),
    )
    vectors = [e.values for e in embedded.embeddings or []]
    assert [len(v or []) for v in vectors] == [32, 32, 32]
    assert vectors[0] == vectors[2] != vectors[1]


@pytest.mark.parametrize(
    ("status", "error", "grpc"),
    [
        (400, genai_errors.ClientError, "INVALID_ARGUMENT"),
        (404, genai_errors.ClientError, "NOT_FOUND"),
        (429, genai_errors.ClientError, "RESOURCE_EXHAUSTED"),
        (500, genai_errors.ServerError, "INTERNAL"),
        (503, genai_errors.ServerError, "UNAVAILABLE"),
    ],
)
async def test_scripted_errors_have_googles_shape(
    client: genai.Client, fake: FakeGemini, status: int, error: type[Exception], grpc: str
) -> None:
    fake.script(Behavior(status=status))
    with pytest.raises(error) as raised:
        await client.aio.models.generate_content(model=MODEL, contents="x")
    assert isinstance(raised.value, genai_errors.APIError)
    assert raised.value.code == status and raised.value.status == grpc


async def test_api_key_checks(fake: FakeGemini) -> None:
    wrong = genai.Client(
        api_key="AIza-wrong", http_options=types.HttpOptions(base_url=fake.url, retry_options=NO_RETRY)
    )
    with pytest.raises(genai_errors.ClientError) as raised:
        await wrong.aio.models.generate_content(model=MODEL, contents="x")
    assert raised.value.code == 400
    assert raised.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_vertex_mode_with_google_auth_service_account() -> None:
    async with FakeGemini() as fake:
        account, public_pem = make_service_account("http://placeholder/token")
        account["token_uri"] = fake.token_url
        fake.token_public_key = public_pem
        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            account, scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        client = genai.Client(
            vertexai=True,
            project="fake-project",
            location="us-central1",
            credentials=credentials,
            http_options=types.HttpOptions(base_url=fake.url, retry_options=NO_RETRY),
        )
        response = await client.aio.models.generate_content(model=MODEL, contents="Hello")
        assert response.text
        embedded = await client.aio.models.embed_content(model="text-embedding-005", contents=["hello world"])
        assert embedded.embeddings and embedded.embeddings[0].statistics
        chunks = [c async for c in await client.aio.models.generate_content_stream(model=MODEL, contents="Hi")]
        assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
        assert fake.requests[0].path == "/token"
        assert fake.requests[1].headers["authorization"] == f"Bearer {fake.issued_tokens[0]}"


@pytest.fixture(scope="module")
def threaded() -> Iterator[FakeServerThread]:
    with FakeGemini(api_key=KEY).run_in_thread() as runner:
        yield runner


def test_sync_client_against_threaded_fake(threaded: FakeServerThread) -> None:
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=threaded.url, retry_options=NO_RETRY))
    assert client.models.generate_content(model=MODEL, contents="Hi").text
    assert [c.text for c in client.models.generate_content_stream(model=MODEL, contents="Hi")]
