"""Costs of a scripted mix of requests, each checked against a hand computation from the shipped catalog, written
out in the test (prices USD per million tokens, so every product below is divided by 1,000,000). Usages come from
real response bodies and streams (built with the SDKs' own types) through ``wardgate.tokens.usage``, so the test
also proves every usage field reaches the price it belongs to."""

from __future__ import annotations

import datetime
import random
import time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import anthropic.types as at
import orjson
import pytest
from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionTokensDetails, CompletionUsage, PromptTokensDetails
from openai.types.create_embedding_response import CreateEmbeddingResponse
from openai.types.create_embedding_response import Usage as EmbeddingUsage

from wardgate.config.prices_config import PricesConfig
from wardgate.pricing import ModelPrice, PriceBook, cost, worst_case
from wardgate.tokens.usage import StreamUsage, Usage, usage_from_body

BOOK = PriceBook.load()
CENT = Decimal("0.01")


def price(provider_type: str, model: str, book: PriceBook = BOOK, **kwargs: Any) -> ModelPrice:
    found = book.lookup(provider_type, model, **kwargs)
    assert found is not None, f"{provider_type}/{model} has no price"
    return found


def usd(per_million_units: str | int) -> Decimal:
    """A hand-computed sum of tokens x USD-per-million prices, in dollars."""
    return Decimal(per_million_units) / 1_000_000


def anthropic_body(**usage: Any) -> bytes:
    message = at.Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude-sonnet-4-5",
        content=[at.TextBlock(type="text", text="ok")],
        stop_reason="end_turn",
        stop_sequence=None,
        usage=at.Usage(**usage),
    )
    return orjson.dumps(message.model_dump(mode="json", exclude_none=True))


def openai_body(prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0) -> bytes:
    usage = CompletionUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning),
    )
    return orjson.dumps({"id": "c1", "object": "chat.completion", "choices": [], "usage": usage.model_dump()})


def body_usage(dialect: str, body: bytes) -> Usage:
    usage = usage_from_body(dialect, body)
    assert usage is not None
    return usage


# --- the scripted mix --------------------------------------------------------------------------------------------


def test_gpt_4o_with_cached_input() -> None:
    usage = body_usage("openai", openai_body(1_000, 200, cached=400))
    # 600 uncached x $2.50 + 400 cached x $1.25 + 200 output x $10.00 = 1,500 + 500 + 2,000 = 4,000 -> $0.004
    assert cost(price("openai", "gpt-4o-2024-11-20"), usage) == usd(4_000) == Decimal("0.004")


def test_o3_mini_with_reasoning_tokens() -> None:
    usage = body_usage("openai", openai_body(2_000, 5_000, reasoning=4_000))
    # 2,000 input x $1.10 + 5,000 output (4,000 of them reasoning, priced as output) x $4.40 = 2,200 + 22,000
    assert cost(price("openai", "o3-mini"), usage) == usd(24_200) == Decimal("0.0242")


def test_claude_sonnet_with_5_minute_cache_writes_and_reads() -> None:
    body = anthropic_body(
        input_tokens=100, cache_read_input_tokens=10_000, cache_creation_input_tokens=2_000, output_tokens=500
    )
    usage = body_usage("anthropic", body)
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens) == (12_100, 10_000, 2_000)
    # 100 uncached x $3 + 10,000 read x $0.30 + 2,000 written x $3.75 + 500 output x $15
    # = 300 + 3,000 + 7,500 + 7,500 = 18,300 -> $0.0183
    assert cost(price("anthropic", "claude-sonnet-4-5-20250929"), usage) == usd(18_300)


def test_claude_sonnet_with_1_hour_cache_writes() -> None:
    body = anthropic_body(
        input_tokens=100,
        cache_creation_input_tokens=3_000,
        cache_creation=at.CacheCreation(ephemeral_5m_input_tokens=2_000, ephemeral_1h_input_tokens=1_000),
        output_tokens=500,
    )
    usage = body_usage("anthropic", body)
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (3_000, 1_000)
    # 100 x $3 + 2,000 (5m) x $3.75 + 1,000 (1h) x $6 + 500 x $15 = 300 + 7,500 + 6,000 + 7,500 = 21,300
    assert cost(price("anthropic", "claude-sonnet-4-5"), usage) == usd(21_300)


def test_openai_stream_usage_chunk() -> None:
    final = CompletionUsage(
        prompt_tokens=1_200,
        completion_tokens=300,
        total_tokens=1_500,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=1_024),
    )
    chunks = [
        ChatCompletionChunk(id="c", object="chat.completion.chunk", created=1, model="gpt-4o-mini", choices=[]),
        ChatCompletionChunk(
            id="c", object="chat.completion.chunk", created=1, model="gpt-4o-mini", choices=[], usage=final
        ),
    ]
    meter = StreamUsage("openai")
    for item in chunks:
        meter.feed(orjson.dumps(item.model_dump(mode="json")))
    assert meter.usage is not None
    # 176 uncached x $0.15 + 1,024 cached x $0.075 + 300 output x $0.60 = 26.4 + 76.8 + 180 = 283.2
    assert cost(price("openai", "gpt-4o-mini"), meter.usage) == usd("283.2")


def sse(event: Any) -> bytes:
    payload = event.model_dump(mode="json", exclude_none=True)
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def test_anthropic_stream_with_cache_write() -> None:
    start_usage = at.Usage(
        input_tokens=50,
        cache_creation_input_tokens=1_500,
        cache_read_input_tokens=0,
        cache_creation=at.CacheCreation(ephemeral_5m_input_tokens=1_500, ephemeral_1h_input_tokens=0),
        output_tokens=1,
    )
    message = at.Message(
        id="m",
        type="message",
        role="assistant",
        model="claude-haiku-4-5",
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=start_usage,
    )
    delta = at.RawMessageDeltaEvent(
        type="message_delta",
        delta={"stop_reason": "end_turn", "stop_sequence": None},  # type: ignore[arg-type]
        usage=at.MessageDeltaUsage(output_tokens=400),
    )
    meter = StreamUsage("anthropic")
    meter.feed(sse(at.RawMessageStartEvent(type="message_start", message=message)))
    meter.feed(sse(delta))
    assert meter.usage is not None
    # 50 uncached x $1 + 1,500 written (5m) x $1.25 + 400 output x $5 = 50 + 1,875 + 2,000 = 3,925
    assert cost(price("anthropic", "claude-haiku-4-5-20251001"), meter.usage) == usd(3_925)


def test_embeddings() -> None:
    response = CreateEmbeddingResponse(
        data=[],
        model="text-embedding-3-small",
        object="list",
        usage=EmbeddingUsage(prompt_tokens=10_000, total_tokens=10_000),
    )
    usage = body_usage("openai", orjson.dumps(response.model_dump()))
    # 10,000 x $0.02 = 200 -> $0.0002
    assert cost(price("openai", "text-embedding-3-small"), usage) == usd(200)
    # Bedrock Titan v2: 10,000 x $0.02; Gemini: 10,000 x $0.15
    assert cost(price("bedrock", "amazon.titan-embed-text-v2:0"), usage) == usd(200)
    assert cost(price("gemini", "gemini-embedding-001"), usage) == usd(1_500)


def test_long_context_tier_applies_to_every_token() -> None:
    gemini = price("gemini", "gemini-2.5-pro")
    long = Usage(input_tokens=250_000, output_tokens=2_000, cached_input_tokens=50_000)
    # above 200K: 200,000 uncached x $2.50 + 50,000 cached x $0.25 + 2,000 x $15 = 500,000 + 12,500 + 30,000
    assert cost(gemini, long) == usd(542_500) == Decimal("0.5425")
    at_threshold = Usage(input_tokens=200_000, output_tokens=2_000)
    # exactly 200K is not above it: 200,000 x $1.25 + 2,000 x $10 = 250,000 + 20,000
    assert cost(gemini, at_threshold) == usd(270_000)
    sonnet = price("anthropic", "claude-sonnet-4-5")
    # cache reads count toward the threshold: 150,000 read + 60,000 uncached = 210,000 input -> long-context rates
    # 60,000 x $6 + 150,000 x $0.60 + 1,000 x $22.50 = 360,000 + 90,000 + 22,500 = 472,500
    assert cost(sonnet, Usage(input_tokens=210_000, output_tokens=1_000, cached_input_tokens=150_000)) == usd(472_500)


def test_batch_discount_applies_last() -> None:
    haiku = price("anthropic", "claude-haiku-4-5")
    usage = Usage(input_tokens=10_000, output_tokens=2_000)
    # (10,000 x $1 + 2,000 x $5) = 20,000 -> $0.02; batch: x (1 - 0.5) = $0.01
    assert cost(haiku, usage) == usd(20_000)
    assert cost(haiku, usage, batch=True) == Decimal("0.01")


def test_per_request_and_per_image_prices() -> None:
    config = PricesConfig.model_validate(
        {
            "models": {
                "studio-image": {
                    "provider": "openai_compatible",
                    "kind": "image",
                    "input": 5,
                    "output": 0,
                    "per_image": "0.04",
                    "per_request": "0.01",
                    "batch_discount": "0.5",
                }
            }
        }
    )
    image = price("openai_compatible", "studio-image", PriceBook.load(config))
    # 100 prompt tokens x $5 = 500 -> $0.0005; + 3 images x $0.04 + $0.01 per request = $0.1305; batch halves all
    assert cost(image, Usage(input_tokens=100), images=3) == Decimal("0.1305")
    assert cost(image, Usage(input_tokens=100), images=3, batch=True) == Decimal("0.06525")


def test_distinct_reasoning_price() -> None:
    config = PricesConfig.model_validate(
        {"models": {"thinker": {"provider": "openai_compatible", "input": 1, "output": 4, "reasoning": 8}}}
    )
    thinker = price("openai_compatible", "thinker", PriceBook.load(config))
    # 1,000 input x $1 + 400 visible output x $4 + 600 reasoning x $8 = 1,000 + 1,600 + 4,800 = 7,400
    assert cost(thinker, Usage(input_tokens=1_000, output_tokens=1_000, reasoning_tokens=600)) == usd(7_400)


def test_local_model_priced_by_gpu_hour() -> None:
    config = PricesConfig.model_validate(
        {
            "models": {
                "llama-3.1-70b-local": {
                    "provider": "openai_compatible",
                    "gpu_hour_usd": "4.00",
                    "tokens_per_second": 2_500,
                    "input_tokens_per_second": 20_000,
                }
            }
        }
    )
    local = price("openai_compatible", "llama-3.1-70b-local", PriceBook.load(config))
    # output: 4.00 x 1,000,000 / (3,600 x 2,500) = 0.4444... -> 0.444444; input: / (3,600 x 20,000) -> 0.055556
    assert (local.rates.input, local.rates.output) == (Decimal("0.055556"), Decimal("0.444444"))
    # 8,000 x 0.055556 + 1,000 x 0.444444 = 444.448 + 444.444 = 888.892
    assert cost(local, Usage(input_tokens=8_000, output_tokens=1_000)) == usd("888.892")


def test_a_day_of_the_mix_to_the_cent() -> None:
    """Each request shape above, times how often it ran in a day; the total matches by hand to the cent."""
    day = [
        (price("openai", "gpt-4o"), Usage(1_000, 200, 400), 20_000),  # $0.004 each -> $80
        (price("openai", "o3-mini"), Usage(2_000, 5_000, reasoning_tokens=4_000), 3_000),  # $0.0242 -> $72.60
        (price("anthropic", "claude-sonnet-4-5"), Usage(12_100, 500, 10_000, 2_000), 5_000),  # $0.0183 -> $91.50
        (price("openai", "gpt-4o-mini"), Usage(1_200, 300, 1_024), 50_000),  # $0.0002832 -> $14.16
        (price("openai", "text-embedding-3-small"), Usage(10_000), 100_000),  # $0.0002 -> $20
        (price("gemini", "gemini-2.5-pro"), Usage(250_000, 2_000, 50_000), 40),  # $0.5425 -> $21.70
    ]
    total = sum((cost(p, usage) * count for p, usage, count in day), Decimal(0))
    # 80 + 72.60 + 91.50 + 14.16 + 20 + 21.70 = 299.96
    assert total.quantize(CENT, rounding=ROUND_HALF_UP) == Decimal("299.96")
    assert total == Decimal("299.96")


# --- effective dates, provider prices, factors -------------------------------------------------------------------


def test_a_historical_cost_is_recomputed_at_its_price() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=500, cached_input_tokens=200)
    before_cut = price("openai", "o3", at=datetime.date(2025, 5, 1))
    # launch prices: 800 x $10 + 200 x $2.50 + 500 x $40 = 8,000 + 500 + 20,000 = 28,500
    assert cost(before_cut, usage) == usd(28_500)
    # since 2025-06-10: 800 x $2 + 200 x $0.50 + 500 x $8 = 1,600 + 100 + 4,000 = 5,700
    assert cost(price("openai", "o3"), usage) == usd(5_700)
    long = Usage(input_tokens=300_000, output_tokens=1_000)
    # Sonnet 4.6 before the 1M window became standard-priced: 300,000 x $6 + 1,000 x $22.50; after: x $3 and $15
    assert cost(price("anthropic", "claude-sonnet-4-6", at=datetime.date(2026, 3, 1)), long) == usd(1_822_500)
    assert cost(price("anthropic", "claude-sonnet-4-6", at=datetime.date(2026, 3, 13)), long) == usd(915_000)


def test_bedrock_regional_profiles_cost_ten_percent_more() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    regional = price("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    global_ = price("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    # 1,000 x $3.30 + 1,000 x $16.50 = 19,800; global: 1,000 x $3 + 1,000 x $15 = 18,000
    assert (cost(regional, usage), cost(global_, usage)) == (usd(19_800), usd(18_000))


def test_provider_factor_is_a_negotiated_discount() -> None:
    book = PriceBook.load(PricesConfig.model_validate({"provider_factors": {"anthropic": "0.8"}}))
    # 1,000,000 x $1 x 0.8
    assert cost(price("anthropic", "claude-haiku-4-5", book), Usage(input_tokens=1_000_000)) == Decimal("0.8")
    assert cost(price("openai", "gpt-4o", book), Usage(input_tokens=1_000_000)) == Decimal("2.5")  # other providers


# --- edge cases ---------------------------------------------------------------------------------------------------


def test_inconsistent_counts_never_charge_negative_input() -> None:
    gpt = price("openai", "gpt-4o")
    # cached beyond the input count: no uncached input, the cached ones still cost 500 x $1.25
    assert cost(gpt, Usage(input_tokens=300, cached_input_tokens=500)) == usd(625)
    # reasoning beyond the output count is capped at it: 10 x $10
    assert cost(gpt, Usage(output_tokens=10, reasoning_tokens=50)) == usd(100)
    assert cost(gpt, Usage()) == 0


def test_worst_case_reserves_the_full_price() -> None:
    sonnet = price("anthropic", "claude-sonnet-4-5")
    # 1,000 x $3 + 4,000 x $15 = 63,000; asking for a cache write: 1,000 x $6 (the 1h write) + 60,000
    assert worst_case(sonnet, 1_000, 4_000) == usd(63_000)
    assert worst_case(sonnet, 1_000, 4_000, cache_write=True) == usd(66_000)
    # the prompt's tier: 250,000 x $6 + 4,000 x $22.50 = 1,500,000 + 90,000
    assert worst_case(sonnet, 250_000, 4_000) == usd(1_590_000)


def test_worst_case_bounds_every_possible_cost() -> None:
    rng = random.Random(8)
    models = [("anthropic", "claude-sonnet-4-5"), ("gemini", "gemini-2.5-pro"), ("openai", "o3"), ("openai", "gpt-5.4")]
    for _ in range(2_000):
        p = price(*rng.choice(models))
        prompt, max_output = rng.randint(0, 400_000), rng.randint(0, 100_000)
        written = rng.randint(0, prompt)
        cached = rng.randint(0, prompt - written)
        output = rng.randint(0, max_output)
        usage = Usage(prompt, output, cached, written, rng.randint(0, output), rng.randint(0, written))
        assert cost(p, usage) <= worst_case(p, prompt, max_output, cache_write=True)
        if not written:
            assert cost(p, usage) <= worst_case(p, prompt, max_output)


@pytest.mark.parametrize("repeat", [20_000])
def test_lookup_and_cost_take_microseconds(repeat: int) -> None:
    book = PriceBook.load()
    usage = Usage(12_100, 500, 10_000, 2_000, 0, 1_000)
    book.lookup("anthropic", "claude-sonnet-4-5-20250929")  # the first lookup resolves and caches
    start = time.perf_counter()
    for _ in range(repeat):
        cost(book.lookup("anthropic", "claude-sonnet-4-5-20250929"), usage)  # type: ignore[arg-type]
    per_call = (time.perf_counter() - start) / repeat
    assert per_call < 50e-6, f"lookup + cost took {per_call * 1e6:.1f} us"
