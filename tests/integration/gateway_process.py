"""Run a real gateway process for integration tests: ``python -m wardgate serve`` on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    def __init__(
        self,
        workdir: Path,
        config: dict[str, Any] | None,
        *,
        master_key: str | None = "wg-test-master-key",
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.master_key = master_key
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = workdir / "wardgate.yaml"
            self.write_config(config)
        self.log_path = workdir / f"gateway-{self.port}.log"
        self._env = env or {}
        self._extra = extra_args
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def write_config(self, config: dict[str, Any] | str) -> None:
        assert self.config_path is not None
        text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.config_path)

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WARDGATE_", "OPENAI_"))}
        env.update(self._env)
        env["WARDGATE_DATA_DIR"] = str(self.workdir / "data")
        if self.master_key:
            env["WARDGATE_MASTER_KEY"] = self.master_key
        args = [sys.executable, "-m", "wardgate", "serve", "--port", str(self.port), *self._extra]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not become ready:\n{self.log()}")

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
