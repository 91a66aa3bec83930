"""Inbound APIs: the proxy dialects (OpenAI chat and embeddings, the Responses API, Anthropic Messages) as plain
ASGI callables that parse requests and render responses and errors, the admin API (``api/admin``, FastAPI,
off the hot path) and the OIDC sign-in routes (``api/auth``, with ``api/csrf``). Must not import ``providers``;
stored objects are reached through ``storage`` repositories only, never with SQL written here."""
