"""The strict configuration schema (one YAML file: server settings, providers, models).

Every model forbids unknown keys and is frozen: a loaded config is an immutable snapshot. Upstream URLs are
validated here, once, so the request path builds URLs only from parts that cannot redirect credentials elsewhere.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
_SAFE_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def validate_base_url(url: str) -> str:
    """Accept only plain http(s) URLs: no credentials, query or fragment (they could smuggle the key elsewhere)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError("must not contain user info")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError("must not contain a query or fragment")
    return url.rstrip("/")


class Timeouts(Strict):
    """Upstream timeouts in seconds. ``first_byte`` bounds the wait for response headers; ``idle`` bounds the
    silence between two stream chunks (streams get no total timeout of their own)."""

    connect: float = Field(default=10.0, gt=0)
    first_byte: float = Field(default=120.0, gt=0)
    idle: float = Field(default=120.0, gt=0)


class _ProviderBase(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    timeouts: Timeouts = Timeouts()
    headers: dict[str, str] = Field(default_factory=dict, description="Static headers added to every call.")
    max_connections: int = Field(default=256, ge=1, le=10_000)

    @field_validator("headers")
    @classmethod
    def _no_auth_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.lower() in {"authorization", "api-key", "x-api-key", "host", "content-length"}:
                raise ValueError(f"header {key!r} is managed by the gateway; use api_key instead")
        return value

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else validate_base_url(value)


class OpenAIProvider(_ProviderBase):
    type: Literal["openai"]
    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr | None = None
    organization: str | None = None
    project: str | None = None


class CompatibleProvider(_ProviderBase):
    """Any server speaking the OpenAI wire format (vLLM, Ollama, Groq, …); ``preset`` fills base URL and auth."""

    type: Literal["openai_compatible"]
    preset: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None

    @model_validator(mode="after")
    def _preset_or_url(self) -> CompatibleProvider:
        from wardgate.config.presets import PRESETS

        if self.preset is not None:
            preset = PRESETS.get(self.preset)
            if preset is None:
                raise ValueError(f"unknown preset {self.preset!r}; known: {', '.join(sorted(PRESETS))}")
            if preset.needs_key and self.api_key is None:
                raise ValueError(f"preset {self.preset!r} needs api_key (usually ${{{preset.key_env}}})")
        if self.preset is None and self.base_url is None:
            raise ValueError("needs base_url or a preset")
        return self


class AzureProvider(_ProviderBase):
    type: Literal["azure_openai"]
    base_url: str = Field(description="The resource endpoint, e.g. https://my-resource.openai.azure.com")
    api_key: SecretStr
    api_version: str = Field(default="2024-10-21", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")


class SimulatedProvider(_ProviderBase):
    """A local provider that answers without any network or key: for quick starts, demos and tests."""

    type: Literal["simulated"]
    first_token_ms: float = Field(default=120.0, ge=0, le=600_000)
    tokens_per_second: float = Field(default=80.0, gt=0)


ProviderConfig = Annotated[
    OpenAIProvider | CompatibleProvider | AzureProvider | SimulatedProvider,
    Field(discriminator="type"),
]


class DeploymentConfig(Strict):
    provider: str = Field(pattern=NAME_PATTERN)
    model: str = Field(min_length=1, max_length=256)


class ModelConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, description="What clients send as `model`.")
    deployments: list[DeploymentConfig] = Field(min_length=1)
    description: str | None = None
    owned_by: str = "wardgate"


class ServerConfig(Strict):
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    access_log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    reload_interval: float = Field(default=1.0, gt=0, description="Seconds between config file checks.")


class GatewayConfig(Strict):
    server: ServerConfig = ServerConfig()
    providers: list[ProviderConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> GatewayConfig:
        if info.context and info.context.get("defer_references"):
            return self  # the loader reports these itself, with file positions
        problems = reference_problems(self)
        if problems:
            path, message = problems[0]
            raise ValueError(f"{format_path(path)}: {message}")
        return self


def format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def reference_problems(config: GatewayConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-references the schema cannot express: unique names and deployments naming known providers."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    providers: dict[str, ProviderConfig] = {}
    for index, provider in enumerate(config.providers):
        if provider.name in providers:
            problems.append((("providers", index, "name"), f"duplicate provider name {provider.name!r}"))
        providers[provider.name] = provider
    seen: set[str] = set()
    for m_index, model in enumerate(config.models):
        if model.name in seen:
            problems.append((("models", m_index, "name"), f"duplicate model name {model.name!r}"))
        seen.add(model.name)
        for d_index, deployment in enumerate(model.deployments):
            path: tuple[str | int, ...] = ("models", m_index, "deployments", d_index)
            target = providers.get(deployment.provider)
            if target is None:
                problems.append(((*path, "provider"), f"unknown provider {deployment.provider!r}"))
            elif isinstance(target, AzureProvider) and not _SAFE_PATH_SEGMENT.fullmatch(deployment.model):
                problems.append(
                    (
                        (*path, "model"),
                        "an Azure deployment name may only contain letters, digits, '.', '_', '-'",
                    )
                )
    return problems
