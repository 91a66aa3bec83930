"""The OpenAI dialect: the same-dialect adapter (body passed through with only the model renamed), OpenAI error
mapping, the stream relay, and the HTTP client shared by every OpenAI-style provider (OpenAI, Azure, compatible)."""
