"""Hot reload: watch the config file and apply a new snapshot atomically when it changes.

Polling ``stat`` (mtime, size, inode) once a second is cheap and also sees editors that replace the file and
Kubernetes ConfigMaps that swap a symlink. A file that fails to load keeps the old config running and logs why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from wardgate.config.loader import ConfigError, LoadedConfig, load_config_file

_log = logging.getLogger("wardgate.config")


def _signature(path: Path) -> tuple[float, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime, info.st_size, info.st_ino)


class ConfigWatcher:
    def __init__(
        self,
        path: Path,
        apply: Callable[[LoadedConfig], None],
        on_error: Callable[[ConfigError], None] | None = None,
        interval: float = 1.0,
    ) -> None:
        self._path = path
        self._apply = apply
        self._on_error = on_error
        self._interval = interval
        self._seen = _signature(path)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="config-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def check(self) -> bool:
        """Reload if the file changed since last seen; True when a new config was applied."""
        signature = _signature(self._path)
        if signature is None or signature == self._seen:
            return False
        self._seen = signature
        try:
            loaded = load_config_file(self._path)
        except ConfigError as exc:
            _log.error(
                "config reload rejected; the previous config stays active",
                extra={"fields": {"source": exc.source, "problems": [str(p) for p in exc.problems]}},
            )
            if self._on_error is not None:
                self._on_error(exc)
            return False
        self._apply(loaded)
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                self.check()
            except Exception:
                _log.exception("config reload failed; the previous config stays active")
