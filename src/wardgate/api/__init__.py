"""Inbound API dialects (OpenAI now; Anthropic and admin later): parse requests, render responses and errors.
Hot routes are plain ASGI callables. Must not import ``providers`` or ``storage`` directly."""
