"""An embedded gateway (counters in memory) restarted mid-month still knows what a team's budget already spent: the
counters are seeded from the spend ledger, so a spent budget stays spent across the restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from gateway_process import GatewayProcess

pytestmark = pytest.mark.integration
MASTER = "wg-budget-restart-master"
CONFIG: dict[str, Any] = {
    "server": {"access_log": False},
    "providers": [{"name": "sim", "type": "simulated", "first_token_ms": 0, "tokens_per_second": 1_000_000}],
    "models": [{"name": "chat", "deployments": [{"provider": "sim", "model": "budget-chat"}]}],
    "prices": {"models": {"budget-chat": {"provider": "simulated", "input": 10, "output": 20}}},
    "budgets": [{"name": "team-month", "scope": "team", "amount_usd": 0.01}],
}


def call(gateway: GatewayProcess, key: str, budget: str) -> bool:
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)
    try:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}], max_tokens=50)
    except openai.RateLimitError as exc:
        assert budget in exc.message
        return False
    return True


@pytest.mark.parametrize("where", ["config rule", "the key's own budget"])
def test_a_spent_budget_stays_spent_after_a_restart(tmp_path: Path, where: str) -> None:
    workdir = tmp_path / "gw"
    workdir.mkdir()
    env = {"WARDGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'wardgate.db'}"}
    config = CONFIG if where == "config rule" else {**CONFIG, "budgets": []}
    fields: dict[str, Any] = {} if where == "config rule" else {"budgets": {"amount_usd": 0.01}}
    budget = "team budget `team-month`" if where == "config rule" else "key budget"
    gateway = GatewayProcess(workdir, config, master_key=MASTER, env=env).start()
    try:
        admin = {"Authorization": f"Bearer {MASTER}"}
        httpx2.post(gateway.url + "/admin/v1/teams", json={"name": "research"}, headers=admin, timeout=10)
        created = httpx2.post(
            gateway.url + "/admin/v1/keys", json={"team": "research", **fields}, headers=admin, timeout=10
        )
        key = created.json()["key"]
        answered = 0
        while call(gateway, key, budget):
            answered += 1
            assert answered < 100, "the budget never ran out"
        assert answered >= 5
    finally:
        gateway.stop()  # SIGTERM: the ledger ships what it holds
    restarted = GatewayProcess(workdir, config, master_key=MASTER, env=env).start()
    try:
        assert not call(restarted, key, budget), "the restarted gateway must remember what was spent this month"
    finally:
        restarted.stop()
