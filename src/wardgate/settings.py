"""Process settings that are not part of the config file: where the config and data live, the master key, and the
database and Redis URLs when they come from the environment. Read from the environment (``WARDGATE_*``) or set by
the CLI; never from request data."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wardgate"


@dataclass(frozen=True, slots=True)
class Settings:
    config_path: Path | None = None
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ))
    master_key: str | None = field(default=None, repr=False)
    database_url: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    """``WARDGATE_REDIS_URL`` (it may carry a password): shared mode's identity notifications."""
    identity_poll_interval: float = 1.0
    """``WARDGATE_IDENTITY_POLL_SECONDS``: how often each process polls the database for key and team changes (the
    revocation bound without Redis; with Redis, changes arrive at once and the poll is the fallback)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        config = env.get("WARDGATE_CONFIG")
        data_dir = env.get("WARDGATE_DATA_DIR")
        return cls(
            config_path=Path(config) if config else None,
            data_dir=Path(data_dir) if data_dir else default_data_dir(env),
            master_key=env.get("WARDGATE_MASTER_KEY") or None,
            database_url=env.get("WARDGATE_DATABASE_URL") or None,
            redis_url=env.get("WARDGATE_REDIS_URL") or None,
            identity_poll_interval=_seconds(env.get("WARDGATE_IDENTITY_POLL_SECONDS"), 1.0),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a worker process."""
        env = {"WARDGATE_DATA_DIR": str(self.data_dir)}
        if self.config_path is not None:
            env["WARDGATE_CONFIG"] = str(self.config_path)
        if self.master_key:
            env["WARDGATE_MASTER_KEY"] = self.master_key
        if self.database_url:
            env["WARDGATE_DATABASE_URL"] = self.database_url
        if self.redis_url:
            env["WARDGATE_REDIS_URL"] = self.redis_url
        if self.identity_poll_interval != 1.0:
            env["WARDGATE_IDENTITY_POLL_SECONDS"] = repr(self.identity_poll_interval)
        return env

    @property
    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'wardgate.db'}"


def _seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"not a number of seconds: {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise ValueError(f"must be a positive number of seconds: {value!r}")
    return seconds
