"""What a request cost, in exact USD (``Decimal``), from the usage its provider reported and the model's price.

The rules, in the order they apply (prices are USD per million tokens; see ``wardgate.tokens.usage.Usage`` for
what each usage field counts):

* **Tier**: the request's input tokens (every one: uncached, cached and written) choose the rates. A request above
  a tier's ``above_input_tokens`` pays that tier's rates on every token, output included, as Anthropic (Sonnet 4 and
  4.5 above 200K), Google (Gemini 2.5 Pro above 200K) and OpenAI (GPT-5.4 above 272K) bill long prompts.
* **Input**: uncached input = input - cached - cache writes, never below 0, at ``input``; cached input (cache reads)
  at ``cached_input``; cache writes at ``cache_write_5m``, except the 1-hour ones (``cache_write_1h_tokens``, a part
  of ``cache_write_tokens``) at ``cache_write_1h``.
* **Output**: output tokens (reasoning included) at ``output``, except that reasoning tokens are charged at
  ``reasoning`` (which is the output price unless the model prices reasoning apart).
* **Extras**: ``per_request`` once per request; ``per_image`` x images.
* **Batch**: a batch request's total is multiplied by (1 - ``batch_discount``), last; a model without a batch
  price pays its normal price.

The result is exact (no float, no rounding): the per-million products are summed and scaled by 10⁻⁶, which decimal
arithmetic does exactly. Round only where money is shown or stored. A request costs a few microseconds.
"""

from __future__ import annotations

from decimal import Decimal

from wardgate.pricing.model import ModelPrice
from wardgate.tokens.usage import Usage


def cost(price: ModelPrice, usage: Usage, *, images: int = 0, batch: bool = False) -> Decimal:
    """The USD cost of one request that reported ``usage``, priced at ``price``."""
    rates = price.rates_for(usage.input_tokens)
    cached = usage.cached_input_tokens
    written = usage.cache_write_tokens
    uncached = usage.input_tokens - cached - written
    output = usage.output_tokens
    reasoning = min(usage.reasoning_tokens, output)
    total = rates.output * (output - reasoning)
    if uncached > 0:
        total += rates.input * uncached
    if cached:
        total += rates.cached_input * cached
    if written:
        written_1h = min(usage.cache_write_1h_tokens, written)
        total += rates.cache_write_5m * (written - written_1h) + rates.cache_write_1h * written_1h
    if reasoning:
        total += rates.reasoning * reasoning
    usd = total.scaleb(-6)
    if price.per_request:
        usd += price.per_request
    if images and price.per_image:
        usd += price.per_image * images
    if batch and price.batch_discount:
        usd *= 1 - price.batch_discount
    return usd


def worst_case(
    price: ModelPrice, prompt_tokens: int, max_output_tokens: int, *, images: int = 0, cache_write: bool = False
) -> Decimal:
    """The most a request can cost, for budget reservations: the prompt at the full input price (no cache
    discount; with ``cache_write``, at the dearest cache-write price, as a prompt that asks to be cached may be
    written at up to 2x input), every possible output token at the dearer of the output and reasoning prices, in
    the tier the prompt falls in, plus the per-request and per-image prices."""
    rates = price.rates_for(prompt_tokens)
    input_rate = max(rates.input, rates.cache_write_5m, rates.cache_write_1h) if cache_write else rates.input
    total = input_rate * max(prompt_tokens, 0) + max(rates.output, rates.reasoning) * max(max_output_tokens, 0)
    usd = total.scaleb(-6) + price.per_request
    if images:
        usd += price.per_image * images
    return usd
