"""``${credential:NAME}`` in the config: the loader records references (only as whole provider secrets), the
gateway resolves them into provider clients, a missing credential is a clear error without any secret, and
``wardgate config check`` reports references without a database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wardgate.config.credential_refs import CredentialRef
from wardgate.config.loader import ConfigError, LoadedConfig, load_config_text, resolve_credentials
from wardgate.config.schema import BedrockProvider, OpenAIProvider, VertexProvider
from wardgate.providers.registry import build_client
from wardgate.providers.transport import Transport

SECRET = "sk-live-Qm7Wc2Xr9Tb4Vn6Ls1Kd8"
ACCOUNT = json.dumps({"client_email": "svc@p.iam.gserviceaccount.com", "private_key": "-----BEGIN KEY-----x"})

CONFIG = textwrap.dedent(
    """
    providers:
      - name: openai
        type: openai
        api_key: ${credential:openai-prod}
      - name: vertex
        type: vertex_ai
        project: my-project
        credentials: ${credential:vertex.sa}
      - name: bedrock
        type: bedrock
        region: us-east-1
        access_key_id: ${credential:aws_id}
        secret_access_key: ${credential:aws-secret}
        session_token: ${AWS_TOKEN:-}
    models:
      - name: m
        deployments: [{provider: openai, model: gpt-4o-mini}]
    """
).lstrip()
SECRETS = {"openai-prod": SECRET, "vertex.sa": ACCOUNT, "aws_id": "AKIAEXAMPLE0000", "aws-secret": "wJalr/EXAMPLEKEY0"}


def load(text: str = CONFIG, env: dict[str, str] | None = None) -> LoadedConfig:
    return load_config_text(text, env=env or {})


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, env)
    return [str(p) for p in info.value.problems]


def test_references_are_recorded_with_paths_and_lines() -> None:
    loaded = load()
    assert loaded.credential_refs == (
        CredentialRef("openai-prod", 0, "api_key", 4),
        CredentialRef("vertex.sa", 1, "credentials", 8),
        CredentialRef("aws_id", 2, "access_key_id", 12),
        CredentialRef("aws-secret", 2, "secret_access_key", 13),
    )
    assert loaded.credential_refs[0].path == "providers[0].api_key"
    assert not loaded.warnings  # a reference is not a secret written inline


def test_resolution_fills_every_secret_field_and_can_be_repeated() -> None:
    loaded = load()
    resolved = resolve_credentials(loaded, SECRETS)
    openai, vertex, bedrock = resolved.config.providers
    assert isinstance(openai, OpenAIProvider) and isinstance(vertex, VertexProvider)
    assert isinstance(bedrock, BedrockProvider)
    assert openai.api_key is not None and openai.api_key.get_secret_value() == SECRET
    assert vertex.credentials.get_secret_value() == ACCOUNT
    assert bedrock.access_key_id.get_secret_value() == "AKIAEXAMPLE0000"
    assert bedrock.secret_access_key.get_secret_value() == "wJalr/EXAMPLEKEY0"
    assert resolved.credential_refs == loaded.credential_refs
    assert SECRET not in repr(resolved)
    rotated = resolve_credentials(resolved, {**SECRETS, "openai-prod": "sk-rotated-000000000000"})
    key = rotated.config.providers[0].api_key  # type: ignore[union-attr]
    assert key is not None and key.get_secret_value() == "sk-rotated-000000000000"
    unresolved = loaded.config.providers[0].api_key  # type: ignore[union-attr]
    assert unresolved is not None and unresolved.get_secret_value() == "${credential:openai-prod}"


async def test_resolved_secret_reaches_the_provider_client() -> None:
    resolved = resolve_credentials(load(), SECRETS)
    transport = Transport()
    try:
        client = build_client(resolved.config.providers[0], transport)
        assert client._credential is not None  # type: ignore[attr-defined]
        assert client._credential.headers() == {"Authorization": f"Bearer {SECRET}"}  # type: ignore[attr-defined]
    finally:
        await transport.close()


def test_missing_credential_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_credentials(load(), {k: v for k, v in SECRETS.items() if k != "aws_id"})
    (problem,) = info.value.problems
    assert problem.path == "providers[2].access_key_id" and problem.line == 12
    assert "credential 'aws_id' does not exist" in problem.message
    assert "wardgate secrets set aws_id" in problem.message
    for secret in SECRETS.values():
        assert secret not in str(info.value)


def test_unavailable_reason_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_credentials(load(), {}, {"openai-prod": "cannot be opened: unknown master key id 'abc'"})
    messages = [p.message for p in info.value.problems]
    assert "credential 'openai-prod' cannot be opened: unknown master key id 'abc'" in messages
    assert len(messages) == 4


def test_secret_checked_on_resolution_without_showing_it() -> None:
    bad = "not json at all: " + SECRET
    with pytest.raises(ConfigError) as info:
        resolve_credentials(load(), {**SECRETS, "vertex.sa": bad})
    (problem,) = info.value.problems
    assert problem.path == "providers[1].credentials"
    assert problem.message == "credential 'vertex.sa': must be a service account key in JSON"
    assert SECRET not in str(info.value)


def test_a_config_without_references_resolves_to_itself() -> None:
    loaded = load("providers:\n  - name: s\n    type: simulated\n")
    assert resolve_credentials(loaded, {}) is loaded


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("prefix-${credential:openai}", "must be the whole value"),
        ("${credential:has space}", "a credential name is"),
        ("${credential:}", "a credential name is"),
        ("${credential:-x}", "a credential name is"),
    ],
)
def test_malformed_references_are_problems(value: str, message: str) -> None:
    text = f"providers:\n  - name: o\n    type: openai\n    api_key: '{value}'\n"
    (problem,) = problems(text)
    assert problem.startswith("line 4: providers[0].api_key: ") and message in problem


def test_references_only_in_secret_fields() -> None:
    text = "providers:\n  - name: o\n    type: openai\n    organization: ${credential:openai}\n"
    (problem,) = problems(text)
    assert "line 4: providers[0].organization: a credential reference may only be the value of a provider secret" in (
        problem
    )
    header = "providers:\n  - name: o\n    type: openai\n    headers: {X-Key: '${credential:x}'}\n"
    assert "may only be the value of a provider secret" in problems(header)[0]


def test_environment_values_cannot_smuggle_references() -> None:
    text = "providers:\n  - name: o\n    type: openai\n    api_key: ${KEY}\n"
    (problem,) = problems(text, {"KEY": "${credential:openai}"})
    assert "environment variable's value may not hold a credential reference" in problem


def test_config_check_reports_references_without_a_database(tmp_path: Path) -> None:
    path = tmp_path / "wardgate.yaml"
    path.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDGATE_")}
    env["WARDGATE_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"  # unreachable: must not be needed
    env["WARDGATE_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "wardgate", "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "line 4: providers[0].api_key: stored credential 'openai-prod'" in result.stdout
    assert "providers[1].credentials: stored credential 'vertex.sa'" in result.stdout
    assert "OK (3 providers, 1 models)" in result.stdout
    assert not (tmp_path / "data").exists()  # no key file, no database


def test_readme_credentials_example_is_a_reference() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Provider credentials") :]
    example = section[section.index("```yaml\n") + 8 : section.index("```", section.index("```yaml\n") + 8)]
    loaded = load(example + "models: []\n")
    assert loaded.credential_refs == (CredentialRef("openai-prod", 0, "api_key", 4),)
