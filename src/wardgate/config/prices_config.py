"""Price settings in the config file (``prices:``): corrections and additions to the shipped price catalog
(``wardgate/data/prices.yaml``), negotiated discounts, local models priced by the GPU-hour, and which catalog entry
prices a deployment whose model name the catalog cannot know (an Azure deployment name, a vLLM served name).

```yaml
prices:
  use_catalog: true                # false: only the models below have prices
  provider_factors:                # a negotiated discount on everything a provider type bills (0.8 = 20 % off)
    anthropic: 0.8
  models:
    gpt-4o:                        # a catalog entry: the fields given replace the catalog's, the rest stay
      input: 2.25
      cached_input: 1.10
    claude-sonnet-4-5:
      factor: 0.9                  # scales every price of this entry (after the fields above)
    llama-3.1-70b-local:           # a new entry needs a provider type
      provider: openai_compatible
      gpu_hour_usd: 4.00           # what the GPUs serving it cost per hour, all of them together
      tokens_per_second: 2500      # their aggregate output throughput at the load you run them
      input_tokens_per_second: 20000   # prefill throughput (default: tokens_per_second)
    my-embedder:
      provider: openai_compatible
      kind: embedding
      input: 0.01
      output: 0
  deployments:                     # what prices a deployment, by its upstream `model`
    - model: prod-gpt4o            # an Azure deployment name
      provider: azure-east         # optional: only on this provider (its name or its type)
      price_model: gpt-4o-2024-11-20
    - model: meta-llama/Llama-3.1-70B-Instruct
      price_model: llama-3.1-70b-local
```

Prices are USD per million tokens (per request and per image: USD each). A GPU-hour price becomes a token price as
``USD per million tokens = gpu_hour_usd x 1,000,000 / (3,600 x tokens per second)``, rounded half-up to six decimal
places: $4.00 an hour at 2,500 tokens/s is $0.444444 per million output tokens. Must not import ``config.schema``
(the schema imports this module).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

ProviderType = Literal[
    "openai", "azure_openai", "anthropic", "gemini", "vertex_ai", "bedrock", "openai_compatible", "simulated"
]
PROVIDER_TYPES: tuple[str, ...] = get_args(ProviderType)
Kind = Literal["chat", "embedding", "image"]

Price = Annotated[Decimal, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
"""USD per million tokens, or USD each for per-request and per-image prices."""
Fraction = Annotated[Decimal, Field(ge=0, le=1, allow_inf_nan=False)]
Factor = Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)]
Throughput = Annotated[Decimal, Field(gt=0, le=100_000_000, allow_inf_nan=False)]
ModelName = Annotated[str, Field(min_length=1, max_length=256)]

_SECONDS_PER_HOUR = Decimal(3600)
_PER_MILLION_QUANTUM = Decimal("0.000001")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenRates(_Strict):
    """Token prices in USD per million tokens. Absent fields default when an entry is resolved: cached_input,
    cache_write_5m → input; cache_write_1h → cache_write_5m; reasoning → output."""

    input: Price | None = None
    output: Price | None = None
    cached_input: Price | None = Field(default=None, description="Cache reads.")
    cache_write_5m: Price | None = Field(default=None, description="Cache writes with a 5-minute TTL.")
    cache_write_1h: Price | None = Field(default=None, description="Cache writes with a 1-hour TTL.")
    reasoning: Price | None = Field(default=None, description="Reasoning (thinking) tokens; default: output.")

    def _require_input_output(self, what: str) -> None:
        if self.input is None or self.output is None:
            raise ValueError(f"{what} needs both `input` and `output` prices")


class PriceTier(TokenRates):
    """Prices for a request whose input (every input token: cached, written and uncached) is above a threshold.
    They apply to the whole request, output included, as the providers bill long-context requests."""

    above_input_tokens: int = Field(ge=1, le=1_000_000_000)

    @model_validator(mode="after")
    def _complete(self) -> PriceTier:
        self._require_input_output("a tier")
        return self


class PriceOverride(TokenRates):
    """``prices.models.<id>``: a correction to a catalog entry (only the fields given change) or a new entry
    (needs ``provider`` and either input and output prices or a GPU-hour price)."""

    provider: ProviderType | None = Field(
        default=None, description="The provider type whose model this is; required for a model the catalog lacks."
    )
    kind: Kind | None = None
    aliases: list[ModelName] | None = Field(default=None, description="Other exact model ids priced the same.")
    per_request: Price | None = None
    per_image: Price | None = None
    tiers: list[PriceTier] | None = Field(default=None, description="Replaces the catalog's tiers ([] removes them).")
    batch_discount: Fraction | None = Field(default=None, description="0.5 = batch requests cost half.")
    factor: Factor | None = Field(default=None, description="Multiplies every price of the entry: 0.8 = 20 % off.")
    gpu_hour_usd: Price | None = Field(default=None, description="Hourly cost of the GPUs serving the model.")
    tokens_per_second: Throughput | None = Field(default=None, description="Aggregate output tokens per second.")
    input_tokens_per_second: Throughput | None = Field(
        default=None, description="Aggregate prefill tokens per second (default: tokens_per_second)."
    )
    note: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> PriceOverride:
        if (self.gpu_hour_usd is None) != (self.tokens_per_second is None):
            raise ValueError("`gpu_hour_usd` and `tokens_per_second` go together")
        if self.input_tokens_per_second is not None and self.gpu_hour_usd is None:
            raise ValueError("`input_tokens_per_second` needs `gpu_hour_usd` and `tokens_per_second`")
        if self.gpu_hour_usd is not None and (self.input is not None or self.output is not None):
            raise ValueError("give either a GPU-hour price or `input`/`output` prices, not both")
        if self.tiers:
            thresholds = [tier.above_input_tokens for tier in self.tiers]
            if thresholds != sorted(set(thresholds)):
                raise ValueError("tiers must be in ascending order of `above_input_tokens`, each threshold once")
        return self

    def gpu_rates(self) -> tuple[Decimal, Decimal] | None:
        """(input, output) USD per million tokens from the GPU-hour price, or None without one."""
        if self.gpu_hour_usd is None or self.tokens_per_second is None:
            return None
        input_speed = self.input_tokens_per_second or self.tokens_per_second
        return per_million_from_gpu_hour(self.gpu_hour_usd, input_speed), per_million_from_gpu_hour(
            self.gpu_hour_usd, self.tokens_per_second
        )


def per_million_from_gpu_hour(gpu_hour_usd: Decimal, tokens_per_second: Decimal) -> Decimal:
    """USD per million tokens = gpu_hour_usd x 1,000,000 / (3,600 x tokens_per_second), rounded half-up to six
    decimal places (a millionth of a dollar per million tokens)."""
    exact = gpu_hour_usd * 1_000_000 / (_SECONDS_PER_HOUR * tokens_per_second)
    return exact.quantize(_PER_MILLION_QUANTUM, rounding=ROUND_HALF_UP)


class PriceMapping(_Strict):
    """Which catalog entry prices a deployment whose upstream model name the catalog does not know."""

    model: ModelName = Field(description="The deployment's upstream `model` (an Azure deployment name, …).")
    provider: ModelName | None = Field(
        default=None, description="Only deployments on this provider (its config name or its type); absent: any."
    )
    price_model: ModelName = Field(description="The catalog (or `prices.models`) entry that prices it.")


class PricesConfig(_Strict):
    """The ``prices`` section of the config file."""

    use_catalog: bool = Field(default=True, description="false: only the models under `models` have prices.")
    models: dict[ModelName, PriceOverride] = Field(default_factory=dict)
    provider_factors: dict[ProviderType, Factor] = Field(
        default_factory=dict, description="Multiplies every price a provider type bills: 0.8 = 20 % off."
    )
    deployments: list[PriceMapping] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_mappings(self) -> PricesConfig:
        seen: set[tuple[str, str | None]] = set()
        for mapping in self.deployments:
            key = (mapping.model.lower(), mapping.provider)
            if key in seen:
                where = f" on {mapping.provider}" if mapping.provider else ""
                raise ValueError(f"deployments: `{mapping.model}`{where} is mapped twice")
            seen.add(key)
        return self
