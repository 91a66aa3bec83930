"""The OpenAI dialect: the same-dialect adapter (body passed through with only the model renamed), OpenAI error
mapping, the stream relay, and the HTTP client shared by every OpenAI-style provider (OpenAI, Azure, compatible);
plus the Responses API passthrough for OpenAI and Azure (``responses``: body as sent, events relayed as framed)."""
