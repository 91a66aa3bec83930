"""One entry per provider under test: how to start its fake, and the gateway config that points at it."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wardgate.testing import FakeOpenAI
from wardgate.testing.fake_anthropic import FakeAnthropic
from wardgate.testing.fake_bedrock import FakeBedrock
from wardgate.testing.fake_gemini import FakeGemini, make_service_account

MASTER_KEY = "wg-contract-master"
OPENAI_KEY = "sk-contract-openai-0123456789"


@dataclass
class Setup:
    name: str
    make_fake: Callable[[], Any]
    provider: Callable[[Any], dict[str, Any]]
    upstream_model: str
    embedding_model: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    """Features this provider cannot express → the parameter the gateway names in its 400."""
    gateway_only: frozenset[str] = frozenset()
    """Attribution-only parameters the provider has no field for: accepted, not forwarded."""


TIMEOUTS = {"connect": 2, "first_byte": 3, "idle": 3}


def _openai() -> Setup:
    return Setup(
        name="openai",
        make_fake=lambda: FakeOpenAI(api_key=OPENAI_KEY),
        provider=lambda fake: {"type": "openai", "base_url": fake.url + "/v1", "api_key": "${C_OPENAI_KEY}"},
        upstream_model="gpt-4o-mini",
        embedding_model="text-embedding-3-small",
        env={"C_OPENAI_KEY": OPENAI_KEY},
    )


ANTHROPIC_KEY = "sk-ant-contract-0123456789"


def _anthropic() -> Setup:
    return Setup(
        name="anthropic",
        make_fake=lambda: FakeAnthropic(api_key=ANTHROPIC_KEY),
        provider=lambda fake: {"type": "anthropic", "base_url": fake.url, "api_key": "${C_ANTHROPIC_KEY}"},
        upstream_model="claude-sonnet-4-6",
        env={"C_ANTHROPIC_KEY": ANTHROPIC_KEY},
        unsupported={"seed": "seed", "logit_bias": "logit_bias"},
    )


GEMINI_KEY = "gemini-contract-key-0123456789"
AWS_KEY_ID = "AKIACONTRACTTEST0001"
AWS_SECRET = "contract/secret/key/0123456789abcdefghij"


def _gemini() -> Setup:
    return Setup(
        name="gemini",
        make_fake=lambda: FakeGemini(api_key=GEMINI_KEY),
        provider=lambda fake: {"type": "gemini", "base_url": fake.url, "api_key": "${C_GEMINI_KEY}"},
        upstream_model="gemini-2.5-flash",
        embedding_model="gemini-embedding-001",
        env={"C_GEMINI_KEY": GEMINI_KEY},
        unsupported={"logit_bias": "logit_bias"},
        gateway_only=frozenset({"user"}),
    )


def _vertex() -> Setup:
    account, public_key = make_service_account("https://oauth2.invalid/token")
    return Setup(
        name="vertex",
        make_fake=lambda: FakeGemini(token_public_key=public_key),
        provider=lambda fake: {
            "type": "vertex_ai",
            "project": "contract-project",
            "location": "us-central1",
            "base_url": fake.url,
            "credentials": "${C_VERTEX_SA}",
            "token_url": fake.url + "/token",
        },
        upstream_model="gemini-2.5-flash",
        embedding_model="gemini-embedding-001",
        env={"C_VERTEX_SA": json.dumps(account)},
        unsupported={"logit_bias": "logit_bias"},
        gateway_only=frozenset({"user"}),
    )


def _bedrock() -> Setup:
    return Setup(
        name="bedrock",
        make_fake=lambda: FakeBedrock(access_key_id=AWS_KEY_ID, secret_access_key=AWS_SECRET, region="us-east-1"),
        provider=lambda fake: {
            "type": "bedrock",
            "region": "us-east-1",
            "base_url": fake.url,
            "access_key_id": "${C_AWS_KEY_ID}",
            "secret_access_key": "${C_AWS_SECRET}",
        },
        upstream_model="anthropic.claude-3-5-sonnet-20241022-v2:0",
        embedding_model="amazon.titan-embed-text-v2:0",
        env={"C_AWS_KEY_ID": AWS_KEY_ID, "C_AWS_SECRET": AWS_SECRET},
        unsupported={"seed": "seed", "logit_bias": "logit_bias"},
    )


def all_setups() -> list[Setup]:
    return [_openai(), _anthropic(), _gemini(), _vertex(), _bedrock()]


def gateway_config(setups: list[Setup], fakes: dict[str, Any]) -> dict[str, Any]:
    providers = []
    models = []
    for setup in setups:
        providers.append({"name": setup.name, "timeouts": TIMEOUTS, **setup.provider(fakes[setup.name])})
        for suffix, mode in (("", "strict"), ("-warn", "warn")):
            models.append(
                {
                    "name": f"{setup.name}{suffix}",
                    "deployments": [
                        {"provider": setup.name, "model": setup.upstream_model, "unsupported_params": mode}
                    ],
                }
            )
        if setup.embedding_model:
            models.append(
                {
                    "name": f"{setup.name}-embed",
                    "deployments": [{"provider": setup.name, "model": setup.embedding_model}],
                }
            )
    server = {
        "access_log": False,
        "image_fetch": {"allow_networks": ["127.0.0.1/32"]},
        # The battery checks how each adapter maps one upstream answer: no retries, no breakers (those are tested
        # in tests/integration/test_routing_faults.py and test_breaker_replicas.py).
        "routing": {"max_attempts": 1},
        "breaker": {"enabled": False},
    }
    return {"server": server, "providers": providers, "models": models}


PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFklEQVR42mP8z8DwnwEIGBkZGBgYAAAQKAH/jH1+8QAAAABJRU5ErkJggg=="
)


class ImageServer:
    """A tiny HTTP server in a thread that serves one PNG (for the image-URL feature)."""

    def __init__(self, png: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
