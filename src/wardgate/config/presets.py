"""Presets for ``openai_compatible`` providers: base URL, whether a key is needed and the env var that usually
holds it. Data, not code: add a server here and it is documented and usable by name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    base_url: str
    needs_key: bool
    key_env: str | None = None


PRESETS: dict[str, Preset] = {
    "vllm": Preset("http://localhost:8000/v1", needs_key=False, key_env="VLLM_API_KEY"),
    "ollama": Preset("http://localhost:11434/v1", needs_key=False),
    "lmstudio": Preset("http://localhost:1234/v1", needs_key=False),
    "llamacpp": Preset("http://localhost:8080/v1", needs_key=False),
    "groq": Preset("https://api.groq.com/openai/v1", needs_key=True, key_env="GROQ_API_KEY"),
    "together": Preset("https://api.together.xyz/v1", needs_key=True, key_env="TOGETHER_API_KEY"),
    "mistral": Preset("https://api.mistral.ai/v1", needs_key=True, key_env="MISTRAL_API_KEY"),
    "deepseek": Preset("https://api.deepseek.com/v1", needs_key=True, key_env="DEEPSEEK_API_KEY"),
    "openrouter": Preset("https://openrouter.ai/api/v1", needs_key=True, key_env="OPENROUTER_API_KEY"),
    "fireworks": Preset("https://api.fireworks.ai/inference/v1", needs_key=True, key_env="FIREWORKS_API_KEY"),
    "xai": Preset("https://api.x.ai/v1", needs_key=True, key_env="XAI_API_KEY"),
}
