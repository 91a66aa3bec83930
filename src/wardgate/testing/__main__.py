"""CLI: ``python -m wardgate.testing fake-openai --port 9000 [--host 127.0.0.1] ...``.

Serves until SIGINT/SIGTERM and prints ``listening on <url>`` once ready. Script it over HTTP through
the ``/_fake/*`` control API (see ``wardgate.testing.control``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from wardgate.testing.fake_openai import FakeOpenAI
from wardgate.testing.script import Behavior


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wardgate.testing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    fake = sub.add_parser("fake-openai", help="serve a fake OpenAI + Azure OpenAI upstream")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=9000)
    fake.add_argument("--api-key", default=None, help="require this key (Authorization: Bearer / api-key)")
    fake.add_argument("--azure-api-key", default=None, help="Azure key if different from --api-key")
    fake.add_argument(
        "--deployment",
        action="append",
        default=None,
        metavar="NAME[=MODEL]",
        help="allowed Azure deployment (repeatable); unknown deployments get 404 DeploymentNotFound",
    )
    fake.add_argument("--served-model", default=None, help="model name reported in OpenAI responses")
    fake.add_argument("--chunks", type=int, default=None, help="content deltas per stream (default 20)")
    fake.add_argument("--chunk-interval", type=float, default=0.0, help="seconds between stream frames")
    fake.add_argument("--latency", type=float, default=0.0, help="seconds before response headers")
    fake.add_argument("--embedding-dim", type=int, default=1536)
    fake.add_argument("--no-control", action="store_true", help="disable the /_fake control API")
    for name in ("fake-anthropic", "fake-gemini"):
        other = sub.add_parser(name, help=f"serve a {name[5:].title()} upstream (key checked when given)")
        other.add_argument("--host", default="127.0.0.1")
        other.add_argument("--port", type=int, default=9000)
        other.add_argument("--api-key", default=None)
    bedrock = sub.add_parser("fake-bedrock", help="serve a Bedrock Runtime upstream that verifies SigV4")
    bedrock.add_argument("--host", default="127.0.0.1")
    bedrock.add_argument("--port", type=int, default=9000)
    bedrock.add_argument("--access-key-id", required=True)
    bedrock.add_argument("--secret-access-key", required=True)
    bedrock.add_argument("--region", default="us-east-1")
    return parser


def _deployments(items: Sequence[str] | None) -> dict[str, str] | None:
    if items is None:
        return None
    out: dict[str, str] = {}
    for item in items:
        name, _, model = item.partition("=")
        out[name] = model or name
    return out


def _make_fake(args: argparse.Namespace) -> Any:
    if args.command == "fake-anthropic":
        from wardgate.testing.fake_anthropic import FakeAnthropic

        return FakeAnthropic(api_key=args.api_key)
    if args.command == "fake-gemini":
        from wardgate.testing.fake_gemini import FakeGemini

        return FakeGemini(api_key=args.api_key)
    if args.command == "fake-bedrock":
        from wardgate.testing.fake_bedrock import FakeBedrock

        return FakeBedrock(
            access_key_id=args.access_key_id, secret_access_key=args.secret_access_key, region=args.region
        )
    return FakeOpenAI(
        api_key=args.api_key,
        azure_api_key=args.azure_api_key,
        azure_deployments=_deployments(args.deployment),
        served_model=args.served_model,
        default=Behavior(chunks=args.chunks, chunk_interval=args.chunk_interval, latency=args.latency),
        embedding_dim=args.embedding_dim,
        control_api=not args.no_control,
    )


async def _serve(args: argparse.Namespace) -> None:
    fake = _make_fake(args)
    await fake.start(args.host, args.port)
    print(f"wardgate {args.command} listening on {fake.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.stop()


def _run(args: argparse.Namespace) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve(args))
        return
    uvloop.run(_serve(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        _run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
