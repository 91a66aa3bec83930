"""OpenAI-compatible servers (vLLM, Ollama, LM Studio, Groq, Together, Mistral, DeepSeek, OpenRouter, …): the OpenAI
adapter at another base URL, with presets from ``wardgate.config.presets`` supplying URL and auth."""
