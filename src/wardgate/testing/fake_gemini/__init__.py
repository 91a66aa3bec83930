"""A fake Gemini API + Vertex AI (Gemini) upstream for tests, shipped so users can test their apps too.

Owns ``FakeGemini`` — a real aiohttp server speaking both wire formats (``generateContent``,
``streamGenerateContent?alt=sse``, ``embedContent`` / ``batchEmbedContents``, Vertex ``predict``, a fake OAuth
``/token`` endpoint for service-account JWT grants), validating requests as strictly as the real API, scriptable
per request with ``wardgate.testing.Behavior`` and recording every request — plus ``make_service_account`` (a
throwaway service-account key and its public key for the token endpoint).

Must not import ``wardgate.api``, ``wardgate.stages``, ``wardgate.routing`` or ``wardgate.storage`` (nor the
Gemini adapter it is meant to check): the fake knows nothing about the gateway.

Modules: ``server`` (routes, auth, lifecycle), ``validate`` (request checks), ``schema`` (schema subset check and
filler), ``reply`` (answers and wire bodies), ``embed``, ``errors`` (Google error bodies), ``auth`` (token grant).
"""

from wardgate.testing.fake_gemini.auth import make_service_account
from wardgate.testing.fake_gemini.server import DEFAULT_MODELS, FakeGemini

__all__ = ["DEFAULT_MODELS", "FakeGemini", "make_service_account"]
