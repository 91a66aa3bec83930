"""A fake Anthropic upstream (the Messages API wire format) for tests and benchmarks.

Owns ``FakeAnthropic`` — a real aiohttp server for ``POST /v1/messages`` (JSON and SSE with ``event:`` lines and
``ping``), ``/v1/messages/count_tokens`` and ``/v1/models``, checking ``x-api-key`` and ``anthropic-version``,
validating requests as strictly as Anthropic does (``validate``), answering tool calls when ``tool_choice`` forces
them (input generated from the tool's ``input_schema``), scriptable with ``wardgate.testing.Behavior``.
Modules: ``errors`` (Anthropic error bodies), ``validate``, ``reply`` (request + behaviour → content blocks,
usage, simulated prompt caching), ``wire`` (Message bodies and SSE frames), ``server``.

Must not import ``wardgate.api``, ``wardgate.stages``, ``wardgate.routing`` or ``wardgate.storage``: the fake
stands in for Anthropic and knows nothing about the gateway.
"""

from wardgate.testing.fake_anthropic.server import DEFAULT_MODELS, FakeAnthropic

__all__ = ["DEFAULT_MODELS", "FakeAnthropic"]
