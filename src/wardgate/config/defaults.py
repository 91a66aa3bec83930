"""The zero-config setup: what ``wardgate serve`` runs when no config file is given.

A built-in ``simulated`` provider answers at once with no key; providers whose standard API key variable is set
in the environment are added with their common models (the key is held as a ``SecretStr``, never printed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.config.loader import LoadedConfig
from wardgate.config.schema import GatewayConfig

SIMULATED_CHAT_MODELS = ("simulated-chat", "simulated-reasoning")
SIMULATED_EMBEDDING_MODELS = ("simulated-embedding",)
OPENAI_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o4-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
)


def default_config_data(env: Mapping[str, str]) -> dict[str, Any]:
    providers: list[dict[str, Any]] = [{"name": "simulated", "type": "simulated"}]
    models: list[dict[str, Any]] = [
        {"name": name, "deployments": [{"provider": "simulated", "model": name}]}
        for name in (*SIMULATED_CHAT_MODELS, *SIMULATED_EMBEDDING_MODELS)
    ]
    if env.get("OPENAI_API_KEY"):
        base_url = env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        providers.append({"name": "openai", "type": "openai", "base_url": base_url, "api_key": env["OPENAI_API_KEY"]})
        models += [{"name": name, "deployments": [{"provider": "openai", "model": name}]} for name in OPENAI_MODELS]
    return {"providers": providers, "models": models}


def default_config(env: Mapping[str, str]) -> LoadedConfig:
    config = GatewayConfig.model_validate(default_config_data(env))
    return LoadedConfig(config=config, source="(built-in defaults)")
