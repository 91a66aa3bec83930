"""Shared constants and config for the integration tests (a module with a unique name, unlike conftest)."""

from __future__ import annotations

from typing import Any

from gateway_process import free_port

UPSTREAM_KEY = "sk-upstream-secret-0123456789"
AZURE_KEY = "azure-secret-abcdef012345"
MASTER_KEY = "wg-test-master-key"


def gateway_config(fake_url: str, **server: Any) -> dict[str, Any]:
    dead_port = free_port()
    timeouts = {"connect": 2, "first_byte": 2, "idle": 2}
    return {
        # These tests fail the same deployments on purpose, test after test: breakers would eject them and turn
        # the documented statuses into 503s (breakers: test_breaker_replicas.py, routing: test_routing_faults.py).
        "server": {"reload_interval": 0.2, "breaker": {"enabled": False}, **server},
        "providers": [
            {"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 100000},
            {
                "name": "openai-main",
                "type": "openai",
                "base_url": fake_url + "/v1",
                "api_key": "${TEST_UPSTREAM_KEY}",
                "timeouts": timeouts,
            },
            {
                "name": "azure-east",
                "type": "azure_openai",
                "base_url": fake_url,
                "api_key": "${TEST_AZURE_KEY}",
                "api_version": "2024-10-21",
                "timeouts": timeouts,
            },
            {
                "name": "local-vllm",
                "type": "openai_compatible",
                "preset": "vllm",
                "base_url": fake_url + "/v1",
                "api_key": "${TEST_UPSTREAM_KEY}",
                "timeouts": timeouts,
            },
            {
                "name": "openai-badkey",
                "type": "openai",
                "base_url": fake_url + "/v1",
                "api_key": "sk-wrong-key-987654",
                "timeouts": timeouts,
            },
            {
                "name": "openai-down",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{dead_port}/v1",
                "api_key": "${TEST_UPSTREAM_KEY}",
                "timeouts": timeouts,
            },
        ],
        "models": [
            {"name": "sim-chat", "deployments": [{"provider": "sim", "model": "sim-chat"}]},
            {"name": "sim-embed", "deployments": [{"provider": "sim", "model": "sim-embed"}]},
            {"name": "gpt-4o-mini", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini"}]},
            {"name": "renamed", "deployments": [{"provider": "openai-main", "model": "gpt-4o-mini-2024-07-18"}]},
            {
                "name": "text-embedding-3-small",
                "deployments": [{"provider": "openai-main", "model": "text-embedding-3-small"}],
            },
            {"name": "azure-gpt", "deployments": [{"provider": "azure-east", "model": "gpt4o-deploy"}]},
            {"name": "azure-missing", "deployments": [{"provider": "azure-east", "model": "no-such-deploy"}]},
            {"name": "llama", "deployments": [{"provider": "local-vllm", "model": "meta-llama/Llama-3.1-8B"}]},
            {"name": "badkey", "deployments": [{"provider": "openai-badkey", "model": "gpt-4o-mini"}]},
            {"name": "down", "deployments": [{"provider": "openai-down", "model": "gpt-4o-mini"}]},
            {
                "name": "failover",
                "deployments": [
                    {"provider": "openai-down", "model": "gpt-4o-mini"},
                    {"provider": "openai-main", "model": "gpt-4o-mini"},
                ],
            },
        ],
    }
