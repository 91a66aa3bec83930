"""Build a runtime :class:`ProviderClient` from each provider's config (one place that knows every type)."""

from __future__ import annotations

from wardgate.config.presets import PRESETS
from wardgate.config.schema import (
    AnthropicProvider,
    AzureProvider,
    BedrockProvider,
    CompatibleProvider,
    GeminiProvider,
    OpenAIProvider,
    ProviderConfig,
    SimulatedProvider,
    VertexProvider,
)
from wardgate.providers.auth import api_key_header, bearer
from wardgate.providers.azure.adapter import AzureAdapter
from wardgate.providers.base import ProviderClient
from wardgate.providers.cross_registry import build_cross_dialect
from wardgate.providers.fetch import ImageFetcher
from wardgate.providers.openai.adapter import OpenAIAdapter
from wardgate.providers.openai.client import OpenAIStyleClient
from wardgate.providers.simulated.client import SimulatedClient
from wardgate.providers.transport import Transport


def build_client(config: ProviderConfig, transport: Transport, fetcher: ImageFetcher | None = None) -> ProviderClient:
    if isinstance(config, AnthropicProvider | GeminiProvider | VertexProvider | BedrockProvider):
        return build_cross_dialect(config, transport, fetcher)
    if isinstance(config, SimulatedProvider):
        return SimulatedClient(config)
    if isinstance(config, AzureProvider):
        return OpenAIStyleClient(
            name=config.name,
            type=config.type,
            adapter=AzureAdapter(config.api_version),
            base_url=config.base_url,
            credential=api_key_header(config.api_key.get_secret_value()),
            transport=transport,
            timeouts=config.timeouts,
            static_headers=config.headers,
        )
    if isinstance(config, OpenAIProvider):
        headers = dict(config.headers)
        if config.organization:
            headers["OpenAI-Organization"] = config.organization
        if config.project:
            headers["OpenAI-Project"] = config.project
        base_url = config.base_url
    elif isinstance(config, CompatibleProvider):
        headers = dict(config.headers)
        preset = PRESETS[config.preset] if config.preset else None
        base_url = config.base_url or (preset.base_url if preset else "")
    else:  # pragma: no cover - the schema's union is exhaustive
        raise TypeError(f"unknown provider type {type(config).__name__}")
    key = config.api_key.get_secret_value() if config.api_key else None
    return OpenAIStyleClient(
        name=config.name,
        type=config.type,
        adapter=OpenAIAdapter(),
        base_url=base_url,
        credential=bearer(key) if key else None,
        transport=transport,
        timeouts=config.timeouts,
        static_headers=headers,
    )
