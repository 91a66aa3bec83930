"""Prices and costs: owns the price data (the catalog shipped as ``wardgate/data/prices.yaml``, corrected and
extended by the config's ``prices`` section) and the cost computation (exact USD decimals from a provider's usage).

``PriceBook.load(config.prices)`` once per config snapshot; ``book.lookup(provider_type, model)`` per request (a
dict read after the first); ``cost(price, usage)`` after the response, ``worst_case(price, prompt, max_output)``
before it, for budget reservations.

Imports only ``config`` and ``tokens``; never ``api``, ``stages``, ``storage`` or ``routing`` (they use it).
"""

from wardgate.pricing.catalog import PriceBook, PriceConfigError
from wardgate.pricing.cost import cost, worst_case
from wardgate.pricing.model import ModelPrice, PricedModel, Rates

__all__ = ["ModelPrice", "PriceBook", "PriceConfigError", "PricedModel", "Rates", "cost", "worst_case"]
