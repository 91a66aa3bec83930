"""Inbound APIs: the proxy dialects (OpenAI chat and embeddings, the Responses API, Anthropic Messages) as plain
ASGI callables that parse requests and render responses and errors, and the admin API (``api/admin``, FastAPI,
off the hot path). Must not import ``providers``; stored objects are reached through ``storage`` repositories only,
never with SQL written here."""
