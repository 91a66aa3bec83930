"""The price catalog: the shipped file is strictly valid and says where its prices come from; lookups find dated
snapshots, aliases, Bedrock inference profiles and fallback price lists but never price an unknown model as a known
one; the config's ``prices`` section corrects, extends, discounts and maps; lookups are cached and bounded."""

from __future__ import annotations

import copy
import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from wardgate.config.prices_config import PriceOverride, PricesConfig, per_million_from_gpu_hour
from wardgate.pricing import PriceBook, PriceConfigError
from wardgate.pricing import catalog as catalog_module
from wardgate.pricing.schema import parse_catalog, shipped_catalog

BOOK = PriceBook.load()


def shipped_data() -> dict[str, Any]:
    text = resources.files("wardgate").joinpath("data/prices.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def book(**prices: Any) -> PriceBook:
    return PriceBook.load(PricesConfig.model_validate(prices))


# --- the shipped file ---------------------------------------------------------------------------------------------


def test_shipped_catalog_is_valid_dated_and_sourced() -> None:
    catalog = shipped_catalog()
    assert catalog.version and catalog.checked <= datetime.date.today() + datetime.timedelta(days=1)
    assert BOOK.version == catalog.version and BOOK.checked == catalog.checked
    for provider, section in catalog.providers.items():
        assert section.source.startswith(("https://", "wardgate")), provider
        for key, entry in section.models.items():
            assert "*" not in key and not any("*" in alias for alias in entry.aliases), "no prefix wildcards shipped"
            assert entry.source is None or entry.source.startswith("https://"), key


def test_shipped_catalog_covers_the_main_providers() -> None:
    counts = {provider: len(section.models) for provider, section in shipped_catalog().providers.items()}
    assert counts["openai"] >= 25 and counts["anthropic"] >= 20 and counts["bedrock"] >= 15 and counts["gemini"] >= 7
    kinds = {priced.current.kind for priced in BOOK.entries()}
    assert kinds == {"chat", "embedding"}


def test_every_shipped_price_resolves_and_its_tiers_are_dearer() -> None:
    for priced in BOOK.entries():
        for period in priced.periods:
            rates = period.rates
            assert rates.cached_input <= rates.input <= rates.cache_write_5m <= rates.cache_write_1h, period.model
            for _, tier in period.tiers:
                assert tier.input > rates.input and tier.output >= rates.output, period.model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["providers"]["openai"]["models"]["gpt-4o"].pop("output"), "needs both `input` and `output`"),
        (lambda d: d["providers"]["openai"]["models"]["gpt-4o"].update(price=1), "Extra inputs are not permitted"),
        (lambda d: d["providers"]["gemini"]["models"]["gemini-2.5-pro"]["tiers"][0].pop("cached_input"), "every tier"),
        (
            lambda d: d["providers"]["openai"]["models"]["o3"]["history"][0].update(effective_from="2025-07-01"),
            "oldest",
        ),
        (lambda d: d["providers"]["openai"]["models"]["o3"].pop("effective_from"), "needs `effective_from`"),
        (lambda d: d["providers"]["openai"]["models"]["gpt-4o"].update(aliases=["GPT-4.1"]), "listed twice"),
        (lambda d: d["providers"]["azure_openai"].update(fallback=["azure_openai"]), "is not another provider"),
        (lambda d: d["providers"]["openai"]["models"]["gpt-4o"].update(input=-1), "greater than or equal to 0"),
        (lambda d: d["providers"]["openai"]["models"]["gpt-4o"].update(batch_discount=2), "less than or equal to 1"),
        (lambda d: d["providers"].update(watsonx=d["providers"]["openai"]), "Input should be"),
    ],
)
def test_catalog_problems_are_refused(change: Any, message: str) -> None:
    data = copy.deepcopy(shipped_data())
    change(data)
    with pytest.raises(ValidationError, match=message):
        parse_catalog(data)


def test_prices_are_exact_decimals() -> None:
    gpt = BOOK.lookup("openai", "gpt-4o-mini")
    assert gpt is not None and gpt.rates.cached_input == Decimal("0.075") and isinstance(gpt.rates.input, Decimal)


# --- lookups ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_type", "model", "entry"),
    [
        ("openai", "gpt-4o", "openai/gpt-4o"),
        ("openai", "GPT-4o", "openai/gpt-4o"),
        ("openai", "gpt-4o-2024-11-20", "openai/gpt-4o"),
        ("openai", "gpt-4o-2024-05-13", "openai/gpt-4o-2024-05-13"),  # a snapshot with its own price
        ("openai", "o3-mini-2025-01-31", "openai/o3-mini"),
        ("anthropic", "claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"),
        ("anthropic", "claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku"),
        ("anthropic", "claude-opus-4-0", "anthropic/claude-opus-4"),  # an alias
        ("anthropic", "claude-opus-4-20250514", "anthropic/claude-opus-4"),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock/anthropic.claude-sonnet-4-5"),
        ("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock/anthropic.claude-sonnet-4-5"),
        ("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock/global.anthropic.claude-sonnet-4-5"),
        ("bedrock", "global.anthropic.claude-sonnet-4-20250514-v1:0", "bedrock/anthropic.claude-sonnet-4"),
        ("bedrock", "anthropic.claude-opus-4-6-v1", "bedrock/anthropic.claude-opus-4-6"),
        ("bedrock", "amazon.titan-embed-text-v2:0", "bedrock/amazon.titan-embed-text-v2:0"),
        ("gemini", "models/gemini-2.5-flash", "gemini/gemini-2.5-flash"),
        ("gemini", "gemini-3.1-pro", "gemini/gemini-3.1-pro-preview"),
        ("azure_openai", "gpt-4.1-mini", "openai/gpt-4.1-mini"),  # the fallback list
        ("vertex_ai", "publishers/google/models/gemini-2.5-pro", "gemini/gemini-2.5-pro"),
        ("simulated", "claude-haiku-4-5", "anthropic/claude-haiku-4-5"),
        ("simulated", "simulated-chat", "simulated/simulated-chat"),  # the built-in demo models
    ],
)
def test_lookup_finds_the_entry(provider_type: str, model: str, entry: str) -> None:
    found = BOOK.lookup(provider_type, model)
    assert found is not None and f"{found.provider}/{found.model}" == entry


@pytest.mark.parametrize(
    ("provider_type", "model"),
    [
        ("openai", "gpt-4o-audio-preview"),  # not priced as gpt-4o
        ("openai", "gpt-4o-mini-tts"),
        ("openai", "o3-deep-research"),
        ("anthropic", "claude-sonnet-4-7"),  # a release the catalog does not know yet
        ("anthropic", "claude-opus-5-7"),
        ("gemini", "gemini-2.5-flash-preview-05-20"),
        ("openai", "claude-sonnet-4-5"),  # another provider's model
        ("openai_compatible", "gpt-4o"),  # no list, no fallback
        ("bedrock", "meta.llama3-70b-instruct-v1:0"),
        ("nonsense", "gpt-4o"),
    ],
)
def test_an_unknown_model_has_no_price(provider_type: str, model: str) -> None:
    assert BOOK.lookup(provider_type, model) is None


def test_lookups_are_cached_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = PriceBook.load()
    first = fresh.lookup("openai", "gpt-4o-2024-08-06")
    assert fresh.lookup("openai", "gpt-4o-2024-08-06") is first
    assert fresh.lookup("openai", "no-such-model") is None  # misses are cached too
    monkeypatch.setattr(catalog_module, "_CACHE_SIZE", 10)
    for index in range(25):
        fresh.lookup("openai", f"gpt-x-{index}")
    assert len(fresh._cache) <= 10


def test_at_picks_the_period_in_effect() -> None:
    o3 = BOOK.priced("openai", "o3")
    assert o3 is not None and len(o3.periods) == 2
    old, new = o3.periods
    assert old.effective_until == new.effective_from == datetime.date(2025, 6, 10) and new.effective_until is None
    assert o3.at(datetime.date(2025, 6, 9)) is old and o3.at(datetime.date(2025, 6, 10)) is new
    assert o3.at(datetime.date(2020, 1, 1)) is old  # the oldest period also prices anything earlier
    assert BOOK.lookup("openai", "o3") is new


# --- the config's prices section ----------------------------------------------------------------------------------


def test_a_correction_changes_only_the_fields_given() -> None:
    corrected = book(models={"gpt-4o": {"input": "2.25"}}).lookup("azure_openai", "gpt-4o")
    assert corrected is not None
    assert (corrected.rates.input, corrected.rates.cached_input, corrected.rates.output) == (
        Decimal("2.25"),
        Decimal("1.25"),
        Decimal("10"),
    )
    assert corrected.note is not None and "config override: input" in corrected.note


def test_a_correction_keeps_earlier_periods_and_a_factor_scales_all() -> None:
    corrected = book(models={"o3": {"output": 7, "factor": "0.5"}}).priced("openai", "o3")
    assert corrected is not None
    old, new = corrected.periods
    assert (new.rates.input, new.rates.output) == (Decimal("1.0"), Decimal("3.5"))
    assert (old.rates.input, old.rates.output) == (Decimal("5.0"), Decimal("20.0"))


def test_a_new_model_needs_a_provider_and_prices() -> None:
    with pytest.raises(PriceConfigError, match=r"prices.models.my-model: not in the price catalog"):
        book(models={"my-model": {"input": 1, "output": 2}})
    with pytest.raises(PriceConfigError, match=r"prices.models.my-model: .*needs both `input` and `output`"):
        book(models={"my-model": {"provider": "openai_compatible", "input": 1}})
    added = book(models={"my-model": {"provider": "openai_compatible", "input": 1, "output": 2}})
    found = added.lookup("openai_compatible", "my-model")
    assert found is not None and found.source == "config (prices.models)"


def test_names_stay_unique() -> None:
    with pytest.raises(PriceConfigError, match="`gpt-4o-mini` names two openai models"):
        book(models={"gpt-4o": {"aliases": ["gpt-4o-mini"]}})
    with pytest.raises(PriceConfigError, match="`gpt-4o` names two openai models"):
        book(models={"my-4o": {"provider": "openai", "input": 1, "output": 1, "aliases": ["GPT-4o"]}})
    patched = book(models={"GPT-4O": {"provider": "openai", "input": 1}}).lookup("openai", "gpt-4o")
    assert patched is not None and patched.model == "gpt-4o" and patched.rates.input == 1  # names fold case


def test_a_correction_must_keep_tiers_consistent() -> None:
    with pytest.raises(PriceConfigError, match="every tier needs `reasoning`"):
        book(models={"gemini-2.5-pro": {"reasoning": 20}})


def test_deployment_mappings_price_arbitrary_names() -> None:
    mapped = book(
        deployments=[
            {"model": "prod-4o", "price_model": "gpt-4o"},
            {"model": "prod-4o", "provider": "azure_openai", "price_model": "gpt-4o-mini"},
            {"model": "prod-4o", "provider": "azure-east", "price_model": "gpt-4.1"},
        ]
    )
    assert mapped.lookup("openai", "prod-4o").model == "gpt-4o"  # type: ignore[union-attr]
    assert mapped.lookup("azure_openai", "prod-4o").model == "gpt-4o-mini"  # type: ignore[union-attr]
    east = mapped.lookup("azure_openai", "PROD-4O", provider_name="azure-east")
    assert east is not None and east.model == "gpt-4.1"
    explicit = mapped.lookup("azure_openai", "prod-4o", price_model="claude-haiku-4-5")  # any list's entry
    assert explicit is not None and explicit.provider == "anthropic"
    with pytest.raises(PriceConfigError, match=r"prices.deployments\[0\].price_model: no price for `gpt-17`"):
        book(deployments=[{"model": "x", "price_model": "gpt-17"}])


def test_without_the_catalog_only_configured_models_have_prices() -> None:
    alone = book(use_catalog=False, models={"mine": {"provider": "openai", "input": 1, "output": 1}})
    assert alone.lookup("openai", "mine") is not None
    assert alone.lookup("openai", "gpt-4o") is None
    with pytest.raises(PriceConfigError):
        book(use_catalog=False, models={"gpt-4o": {"input": 1}})


def test_gpu_hour_formula() -> None:
    # $2.00 an hour at 1,000 tokens/s: 2 x 1,000,000 / 3,600,000 = 0.5555... -> 0.555556 per million
    assert per_million_from_gpu_hour(Decimal(2), Decimal(1000)) == Decimal("0.555556")
    override = PriceOverride(gpu_hour_usd=Decimal(36), tokens_per_second=Decimal(100))
    assert override.gpu_rates() == (Decimal("100.000000"), Decimal("100.000000"))


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"models": {"m": {"gpu_hour_usd": 1}}}, "go together"),
        ({"models": {"m": {"gpu_hour_usd": 1, "tokens_per_second": 5, "input": 1}}}, "not both"),
        ({"models": {"m": {"input_tokens_per_second": 5}}}, "needs `gpu_hour_usd`"),
        ({"models": {"m": {"factor": 0}}}, "greater than 0"),
        ({"models": {"m": {"provider": "watsonx"}}}, "Input should be"),
        ({"provider_factors": {"anthropic": -1}}, "greater than 0"),
        ({"deployments": [{"model": "a", "price_model": "b"}, {"model": "A", "price_model": "c"}]}, "mapped twice"),
        ({"models": {"m": {"tiers": [{"above_input_tokens": 9, "input": 1, "output": 1}] * 2}}}, "ascending"),
        ({"model": {}}, "Extra inputs"),
    ],
)
def test_config_problems_are_refused(prices: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PricesConfig.model_validate(prices)


def test_the_documented_example_loads() -> None:
    from wardgate.config import prices_config

    doc = prices_config.__doc__ or ""
    example = yaml.safe_load(doc.split("```yaml", 1)[1].split("```", 1)[0])
    example_book = PriceBook.load(PricesConfig.model_validate(example["prices"]))
    azure = example_book.lookup("azure_openai", "prod-gpt4o", provider_name="azure-east")
    assert azure is not None and azure.rates.input == Decimal("2.25")
    llama = example_book.lookup("openai_compatible", "meta-llama/Llama-3.1-70B-Instruct")
    assert llama is not None and llama.rates.output == Decimal("0.444444") and llama.rates.input == Decimal("0.055556")
    haiku = example_book.lookup("anthropic", "claude-haiku-4-5")
    assert haiku is not None and haiku.rates.input == Decimal("0.8")
