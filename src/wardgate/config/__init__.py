"""Configuration: the strict schema, the YAML loader (with file positions in every problem), the zero-config
defaults, provider presets and the hot-reload watcher.

Must not import ``api``, ``stages``, ``routing`` or ``providers``: config is data; the app turns it into a runtime.
"""

from wardgate.config.loader import (
    ConfigError,
    ConfigProblem,
    LoadedConfig,
    load_config_file,
    load_config_text,
)
from wardgate.config.schema import GatewayConfig

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "GatewayConfig",
    "LoadedConfig",
    "load_config_file",
    "load_config_text",
]
