"""One entry per provider under test: how to start its fake, and the gateway config that points at it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wardgate.testing import FakeOpenAI

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


def all_setups() -> list[Setup]:
    return [_openai()]


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
    return {"server": {"access_log": False}, "providers": providers, "models": models}
