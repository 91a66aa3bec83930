"""Start what the benchmark measures: the fake upstream, wardgate and LiteLLM, each with a generated config in the
run's temp dir, bound to 127.0.0.1 on a free port, and ready (answering its health URL) before it is returned."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import dialects
from measure import BENCH_DIR, Target
from procs import Child, Children, pinned, wait_ready

HOST = "127.0.0.1"
CLIENT_KEY = "sk-bench-client-key"
UPSTREAM_KEY = "sk-x"
ALIAS = "bench-model"
UPSTREAM_MODEL = "gpt-4o-mini"
UPSTREAMS = {
    "fast": "bench/fast_upstream.py (raw asyncio + uvloop, canned replies)",
    "aiohttp": "python -m wardgate.testing fake-openai (aiohttp)",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_of(target: Target) -> int:
    port = urlsplit(target.url).port
    assert port is not None
    return port


def chat_url(port: int) -> str:
    return f"http://{HOST}:{port}/v1/chat/completions"


def base_env() -> dict[str, str]:
    """This environment without proxy settings: all traffic stays on 127.0.0.1."""
    proxies = {"http_proxy", "https_proxy", "all_proxy"}
    env = {name: value for name, value in os.environ.items() if name.lower() not in proxies}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


# -------------------------------------------------------------------------------------------------- upstream


def start_upstream(children: Children, kind: str, tmp: Path, cpus: str | None) -> tuple[Child, Target]:
    port = free_port()
    if kind == "fast":
        argv = [sys.executable, str(BENCH_DIR / "fast_upstream.py"), "--port", str(port), "--chunks", "20"]
    else:
        argv = [sys.executable, "-m", "wardgate.testing", "fake-openai", "--port", str(port), "--chunks", "20"]
        argv.append("--no-control")
    child = children.spawn("upstream", pinned(argv, cpus), tmp / "upstream.log", base_env())
    wait_ready(child, HOST, port, "/v1/models", timeout=30)
    return child, Target("direct", chat_url(port), UPSTREAM_KEY, UPSTREAM_MODEL, child.pid)


# -------------------------------------------------------------------------------------------------- wardgate


@dataclass(frozen=True)
class Dialect:
    """How one wardgate process reaches the fake upstream: its provider type (the upstream's dialect), the
    provider's connection fields, the upstream model, and the benchmark target's name."""

    provider_type: str
    target: str
    upstream_model: str
    path: str = ""
    credentials: tuple[str, ...] = ("api_key: ${BENCH_UPSTREAM_KEY}",)

    def provider_fields(self, upstream_port: int) -> list[str]:
        return [f"base_url: http://{HOST}:{upstream_port}{self.path}", *self.credentials]


_AWS_CREDENTIALS = (
    "region: us-east-1",
    "access_key_id: ${BENCH_AWS_ACCESS_KEY_ID}",
    "secret_access_key: ${BENCH_AWS_SECRET_ACCESS_KEY}",
)
DIALECTS = {
    "openai": Dialect("openai", "wardgate", UPSTREAM_MODEL, path="/v1"),
    "anthropic": Dialect("anthropic", "wardgate→anthropic", dialects.ANTHROPIC_MODEL),
    "gemini": Dialect("gemini", "wardgate→gemini", dialects.GEMINI_MODEL),
    "bedrock": Dialect("bedrock", "wardgate→bedrock", dialects.BEDROCK_MODEL, credentials=_AWS_CREDENTIALS),
}
TRANSLATED = ("anthropic", "gemini", "bedrock")


def wardgate_config(upstream_port: int, dialect: Dialect = DIALECTS["openai"]) -> str:
    fields = "".join(f"\n    {line}" for line in dialect.provider_fields(upstream_port))
    return f"""server:
  access_log: true
providers:
  - name: bench-upstream
    type: {dialect.provider_type}{fields}
models:
  - name: {ALIAS}
    deployments:
      - provider: bench-upstream
        model: "{dialect.upstream_model}"
"""


def wardgate_env() -> dict[str, str]:
    """The client's master key and the (fake) upstream credentials the configs refer to."""
    return {
        **base_env(),
        "WARDGATE_MASTER_KEY": CLIENT_KEY,
        "BENCH_UPSTREAM_KEY": UPSTREAM_KEY,
        "BENCH_AWS_ACCESS_KEY_ID": "AKIABENCHFAKEKEY0000",
        "BENCH_AWS_SECRET_ACCESS_KEY": "bench-fake-secret-key-not-checked-by-the-upstream",
    }


def start_wardgate(
    children: Children, upstream_port: int, tmp: Path, cpus: str | None, dialect: str = "openai"
) -> tuple[Child, Target]:
    """One uvicorn worker (``wardgate serve``), default stages, access log on (written to a file in ``tmp``),
    with one provider of the given dialect pointing at the fake upstream."""
    route = DIALECTS[dialect]
    stem = "wardgate" if dialect == "openai" else f"wardgate-{dialect}"
    config = tmp / f"{stem}.yaml"
    config.write_text(wardgate_config(upstream_port, route))
    port = free_port()
    argv = [sys.executable, "-m", "wardgate", "serve", "--config", str(config), "--host", HOST, "--port", str(port)]
    argv += ["--data-dir", str(tmp / f"{stem}-data")]
    child = children.spawn(stem, pinned(argv, cpus), tmp / f"{stem}.log", wardgate_env())
    wait_ready(child, HOST, port, "/readyz", timeout=60)
    return child, Target(route.target, chat_url(port), CLIENT_KEY, ALIAS, child.pid)


# --------------------------------------------------------------------------------------------------- LiteLLM


def litellm_config(upstream_port: int) -> str:
    """The model, a master key, and off what the proxy docs let us turn off (no DB: spend logs, budgets)."""
    return f"""model_list:
  - model_name: {ALIAS}
    litellm_params:
      model: openai/{UPSTREAM_MODEL}
      api_base: http://{HOST}:{upstream_port}/v1
      api_key: {UPSTREAM_KEY}
general_settings:
  master_key: {CLIENT_KEY}
  disable_spend_logs: true
  disable_error_logs: true
  disable_spend_updates: true
  disable_reset_budget: true
litellm_settings:
  set_verbose: false
  json_logs: false
  turn_off_message_logging: true
  disable_end_user_cost_tracking: true
"""


def litellm_env() -> dict[str, str]:
    env = base_env()
    for name in ("DATABASE_URL", "REDIS_HOST", "REDIS_URL", "LITELLM_MASTER_KEY"):
        env.pop(name, None)
    env.update(
        {
            "LITELLM_LOG": "WARNING",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no download of the model price map at startup
            "DISABLE_ADMIN_UI": "True",
        }
    )
    return env


def start_litellm(
    children: Children, exe: str, upstream_port: int, tmp: Path, cpus: str | None
) -> tuple[Child, Target]:
    config = tmp / "litellm.yaml"
    config.write_text(litellm_config(upstream_port))
    port = free_port()
    argv = [exe, "--config", str(config), "--host", HOST, "--port", str(port), "--num_workers", "1"]
    child = children.spawn("litellm", pinned(argv, cpus), tmp / "litellm.log", litellm_env())
    wait_ready(child, HOST, port, "/health/liveliness", timeout=180)
    return child, Target("litellm", chat_url(port), CLIENT_KEY, ALIAS, child.pid)


def find_litellm(given: str | None) -> str | None:
    """An executable, or a venv directory holding ``bin/litellm``; by default ``litellm`` on PATH."""
    if given is None:
        return shutil.which("litellm")
    path = Path(given)
    if path.is_dir():
        path = path / "bin" / "litellm"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def litellm_version(exe: str) -> str:
    """Asked of the interpreter next to the executable (``litellm --version`` is slow to start)."""
    python = Path(exe).with_name("python")
    if not python.exists():
        return "unknown"
    code = "import importlib.metadata as m; print(m.version('litellm'))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip() or "unknown"
