"""The strict configuration schema (one YAML file: server settings, providers, models).

Every model forbids unknown keys and is frozen: a loaded config is an immutable snapshot. Upstream URLs are
validated here, once, so the request path builds URLs only from parts that cannot redirect credentials elsewhere.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Annotated, Any, Literal
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

from wardgate.config.audit_config import AuditConfig
from wardgate.config.auth_config import OidcConfig
from wardgate.config.breaker_config import BreakerConfig
from wardgate.config.budgets_config import BudgetRule, BudgetsServerConfig, budget_problems
from wardgate.config.credential_refs import may_stay_unresolved
from wardgate.config.limits_config import DeploymentLimits, LimitRule, LimitsServerConfig, rule_problems
from wardgate.config.observability_config import ObservabilityConfig
from wardgate.config.prices_config import PricesConfig
from wardgate.config.routing_config import DeploymentRouting, ModelRouting, RoutingConfig, routing_problems

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


def _date_as_text(value: object) -> object:
    """YAML reads an unquoted ``2024-10-21`` as a date; version fields mean the text."""
    return value.isoformat() if isinstance(value, datetime.date) else value


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

    _version_text = field_validator("api_version", mode="before")(_date_as_text)


class SimulatedProvider(_ProviderBase):
    """A local provider that answers without any network or key: for quick starts, demos and tests."""

    type: Literal["simulated"]
    first_token_ms: float = Field(default=120.0, ge=0, le=600_000)
    tokens_per_second: float = Field(default=80.0, gt=0)


class AnthropicProvider(_ProviderBase):
    """Anthropic Messages API: https://docs.anthropic.com/en/api/messages"""

    type: Literal["anthropic"]
    base_url: str = "https://api.anthropic.com"
    api_key: SecretStr
    anthropic_version: str = "2023-06-01"

    _version_text = field_validator("anthropic_version", mode="before")(_date_as_text)
    beta: list[str] = Field(default_factory=list, description="Values for the anthropic-beta header.")


class GeminiProvider(_ProviderBase):
    """Google AI Studio (Gemini API): https://ai.google.dev/api/generate-content"""

    type: Literal["gemini"]
    base_url: str = "https://generativelanguage.googleapis.com"
    api_key: SecretStr
    api_version: str = Field(default="v1beta", pattern=r"^v[0-9a-z]+$")


class VertexProvider(_ProviderBase):
    """Gemini on Vertex AI, authenticated with a service account exchanged for short-lived access tokens."""

    type: Literal["vertex_ai"]
    project: str = Field(pattern=r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$")
    location: str = Field(default="us-central1", pattern=r"^[a-z0-9-]+$")
    base_url: str | None = Field(default=None, description="Default: https://{location}-aiplatform.googleapis.com")
    credentials: SecretStr = Field(description="The service account key JSON, e.g. ${VERTEX_SERVICE_ACCOUNT_JSON}.")
    token_url: str | None = Field(default=None, description="Default: the key's token_uri.")
    api_version: str = Field(default="v1", pattern=r"^v[0-9a-z]+$")

    @field_validator("token_url")
    @classmethod
    def _check_token_url(cls, value: str | None) -> str | None:
        return None if value is None else validate_base_url(value)

    @field_validator("credentials")
    @classmethod
    def _check_credentials(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if may_stay_unresolved(value.get_secret_value(), info):
            return value  # ${credential:NAME}: checked when the gateway resolves it
        try:
            account = json.loads(value.get_secret_value())
        except ValueError:
            raise ValueError("must be a service account key in JSON") from None
        if not isinstance(account, dict) or not {"client_email", "private_key"} <= account.keys():
            raise ValueError("the service account key needs client_email and private_key")
        return value


class BedrockProvider(_ProviderBase):
    """AWS Bedrock Runtime (Converse API), requests signed with SigV4."""

    type: Literal["bedrock"]
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    base_url: str | None = Field(default=None, description="Default: https://bedrock-runtime.{region}.amazonaws.com")
    access_key_id: SecretStr
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


ProviderConfig = Annotated[
    OpenAIProvider
    | CompatibleProvider
    | AzureProvider
    | SimulatedProvider
    | AnthropicProvider
    | GeminiProvider
    | VertexProvider
    | BedrockProvider,
    Field(discriminator="type"),
]


class DeploymentConfig(DeploymentRouting):
    """One place a model is served; the routing fields (id, weight, priority, tags, …) are ``DeploymentRouting``'s."""

    provider: str = Field(pattern=NAME_PATTERN)
    model: str = Field(min_length=1, max_length=256)
    unsupported_params: Literal["strict", "warn", "drop"] = Field(
        default="strict",
        description="A parameter the provider cannot express: strict → 400 naming it; warn → dropped and listed in "
        "the x-wardgate-dropped-params header; drop → dropped quietly.",
    )
    max_tokens: int | None = Field(
        default=None, ge=1, description="Output token default for providers that require one (else model data)."
    )
    limits: DeploymentLimits | None = Field(
        default=None, description="The provider's own quota for this deployment; routing keeps under it."
    )


class ModelConfig(ModelRouting):
    """A model clients call; the routing fields (strategy, fallbacks, sticky, …) are ``ModelRouting``'s."""

    name: str = Field(pattern=NAME_PATTERN, description="What clients send as `model`.")
    deployments: list[DeploymentConfig] = Field(min_length=1)
    aliases: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list,
        description="Other names clients may send for this model (unique across every model name and alias). "
        "A key allowed this model may call it by any of them; a key allowed an alias may call the model.",
    )
    description: str | None = None
    owned_by: str = "wardgate"


class ImageFetchConfig(Strict):
    """How the gateway fetches image URLs for providers that need the bytes (Gemini, Bedrock)."""

    max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    timeout: float = Field(default=10.0, gt=0)
    max_redirects: int = Field(default=3, ge=0, le=10)
    allow_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed even though private/loopback (e.g. an internal image host). Empty by default.",
    )


class ResponsesStoreConfig(Strict):
    """The gateway's store for the Responses API (``GET /v1/responses/{id}``, ``previous_response_id``)."""

    store: bool = Field(default=True, description="Keep responses whose request did not say store: false.")
    retention_days: float = Field(default=30, gt=0)
    cache_entries: int = Field(default=10_000, ge=0, description="Responses kept in memory per process.")


class ServerConfig(Strict):
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    access_log: bool = True
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at GET /metrics (no key needed).")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    reload_interval: float = Field(default=1.0, gt=0, description="Seconds between config file checks.")
    image_fetch: ImageFetchConfig = ImageFetchConfig()
    responses: ResponsesStoreConfig = ResponsesStoreConfig()
    routing: RoutingConfig = RoutingConfig()
    breaker: BreakerConfig = BreakerConfig()
    limits: LimitsServerConfig = LimitsServerConfig()
    budgets: BudgetsServerConfig = BudgetsServerConfig()


class JwtAuthConfig(Strict):
    """JWT bearer tokens accepted on the proxy API (signature via the issuer's JWKS). Changes need a restart.
    Claim names may be dotted paths (``realm_access.roles``); roles come only through ``role_map``."""

    issuer: str = Field(min_length=1)
    audience: str | list[str]
    jwks_url: str | None = Field(default=None, description="Default: found through the issuer's OIDC discovery.")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256"], min_length=1)
    clock_skew_seconds: int = Field(default=60, ge=0, le=300)
    required_claims: list[str] = Field(default_factory=lambda: ["exp", "iss", "aud"])
    user_claim: str = "sub"
    email_claim: str = "email"
    teams_claim: str = Field(default="groups", description="Team names (matched against the gateway's teams).")
    roles_claim: str = "roles"
    role_map: dict[str, str] = Field(
        default_factory=dict, description="IdP role or group value → org_admin, auditor, team_admin, member, viewer."
    )
    team_role_default: Literal["team_admin", "member", "viewer"] = "member"
    jwks_min_refresh_seconds: float = Field(default=5.0, ge=0)
    jwks_max_age_seconds: float = Field(default=600.0, gt=0)
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    cache_size: int = Field(default=10_000, ge=0, description="Verified tokens kept in memory.")
    allow_insecure_http: bool = Field(default=False, description="Plain http to a non-loopback IdP.")

    @model_validator(mode="after")
    def _valid_settings(self) -> JwtAuthConfig:
        from wardgate.identity.jwt import JwtSettings  # the verifier's own checks, run at load time

        JwtSettings(**self.settings_fields())
        return self

    def settings_fields(self) -> dict[str, Any]:
        """Keyword arguments for ``wardgate.identity.jwt.JwtSettings``."""
        values = self.model_dump()
        values["audience"] = self.audience if isinstance(self.audience, str) else tuple(self.audience)
        values["algorithms"] = tuple(self.algorithms)
        values["required_claims"] = tuple(self.required_claims)
        return values


class AuthConfig(Strict):
    jwt: JwtAuthConfig | None = Field(default=None, description="Accept JWT bearer tokens (off when absent).")
    oidc: OidcConfig | None = Field(default=None, description="Sign-in for people through OIDC (off when absent).")


class GatewayConfig(Strict):
    database_url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql://user@host/db; WARDGATE_DATABASE_URL wins (restart to change).",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db for shared mode (identity changes reach every replica at once); "
        "WARDGATE_REDIS_URL wins (restart to change).",
    )
    auth: AuthConfig = AuthConfig()
    server: ServerConfig = ServerConfig()
    audit: AuditConfig = AuditConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    providers: list[ProviderConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)
    limits: list[LimitRule] = Field(
        default_factory=list, description="Rate limits by scope (keys, teams and projects also carry their own)."
    )
    budgets: list[BudgetRule] = Field(default_factory=list, description="Spend budgets with alerts and hard caps.")
    prices: PricesConfig = Field(
        default_factory=PricesConfig, description="Corrections and additions to the shipped price catalog."
    )

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
    """Cross-references the schema cannot express: unique names (model names and aliases share one namespace)
    and deployments naming known providers."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    providers: dict[str, ProviderConfig] = {}
    for index, provider in enumerate(config.providers):
        if provider.name in providers:
            problems.append((("providers", index, "name"), f"duplicate provider name {provider.name!r}"))
        providers[provider.name] = provider
    problems += _name_problems(config.models)
    problems += routing_problems(config.models)
    problems += [(("limits",), problem) for problem in rule_problems(config.limits)]
    problems += [(("prices",), problem) for problem in price_problems(config.prices)]
    names = {m.name for m in config.models} | {alias for m in config.models for alias in m.aliases}
    problems += [(("budgets",), problem) for problem in budget_problems(config.budgets, names)]
    for m_index, model in enumerate(config.models):
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


def price_problems(prices: PricesConfig) -> list[str]:
    from wardgate.pricing.catalog import PriceBook, PriceConfigError  # the catalog is parsed once per process

    try:
        PriceBook.load(prices)
    except PriceConfigError as error:
        return list(error.problems)
    return []


def _name_problems(models: list[ModelConfig]) -> list[tuple[tuple[str | int, ...], str]]:
    """Every name a client may send (model names and aliases) must pick exactly one model."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    owner: dict[str, str] = {}
    for m_index, model in enumerate(models):
        names: list[tuple[tuple[str | int, ...], str]] = [(("models", m_index, "name"), model.name)]
        names += [(("models", m_index, "aliases", a_index), alias) for a_index, alias in enumerate(model.aliases)]
        for path, name in names:
            taken = owner.get(name)
            if taken is None:
                owner[name] = model.name
            elif path[-1] == "name" and taken == name:
                problems.append((path, f"duplicate model name {name!r}"))
            else:
                problems.append((path, f"the name {name!r} is already taken by model {taken!r}"))
    return problems
