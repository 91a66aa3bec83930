"""Fake provider servers for tests and benchmarks (shipped so users can test their apps too).

Owns: ``FakeAnthropic``, ``FakeGemini`` (Gemini and Vertex AI, with an OAuth token endpoint) and ``FakeBedrock``
(SigV4-verifying, binary event-stream), each in its own subpackage, ``FakeOidc`` (an OpenID Provider: discovery,
JWKS, auto-approving ``/authorize``, ``/token`` with PKCE), ``FakeOtlp`` (an OTLP/HTTP trace collector decoding
spans with the official protobuf messages) and ``FakeOpenAI`` — a real aiohttp server
speaking the OpenAI and Azure OpenAI wire formats
(chat completions, streamed and not, tool calls, embeddings, models, and the Responses API), scriptable per request with
``Behavior`` (latency, errors, chunking, disconnects, malformed JSON ...), recording every request;
a thread runner (``FakeServerThread``), the ``/_fake/*`` HTTP control API with its client
(``RemoteFake``) and the CLI ``python -m wardgate.testing fake-openai``.

Must not import ``wardgate.api``, ``wardgate.stages``, ``wardgate.routing`` or ``wardgate.storage``:
the fakes stand in for upstream providers and know nothing about the gateway.

Modules: ``wire`` (pure chat body/chunk builders), ``errors`` (provider error bodies), ``embeddings``,
``replies`` (request + behaviour -> reply), ``script`` (``Behavior``, queue), ``recording``,
``responses`` (aiohttp helpers), ``fake_openai`` (the server), ``fake_openai_responses`` (its Responses API),
``control``, ``runner``, ``__main__``.
"""

from wardgate.testing.control import RemoteFake
from wardgate.testing.fake_anthropic import FakeAnthropic
from wardgate.testing.fake_bedrock import FakeBedrock
from wardgate.testing.fake_gemini import FakeGemini, make_service_account
from wardgate.testing.fake_oidc import FakeOidc, FakeUser
from wardgate.testing.fake_openai import DEFAULT_MODELS, FakeOpenAI
from wardgate.testing.recording import RecordedRequest
from wardgate.testing.runner import FakeServerThread, run_in_thread
from wardgate.testing.script import Behavior, ToolCall
from wardgate.testing.wire import DEFAULT_CHUNKS, DEFAULT_SENTENCE

Script = Behavior

__all__ = [
    "DEFAULT_CHUNKS",
    "DEFAULT_MODELS",
    "DEFAULT_SENTENCE",
    "Behavior",
    "FakeAnthropic",
    "FakeBedrock",
    "FakeGemini",
    "FakeOidc",
    "FakeOpenAI",
    "FakeServerThread",
    "FakeUser",
    "RecordedRequest",
    "RemoteFake",
    "Script",
    "ToolCall",
    "make_service_account",
    "run_in_thread",
]
