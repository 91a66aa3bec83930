"""Tests of the config loader (problems with paths and lines, env substitution, provider types, URL and
deployment-name checks, secrets), the zero-config defaults and the hot-reload watcher."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pydantic
import pytest

from wardgate.config import ConfigError, ConfigProblem, GatewayConfig, LoadedConfig, load_config_file, load_config_text
from wardgate.config.defaults import (
    OPENAI_MODELS,
    SIMULATED_CHAT_MODELS,
    SIMULATED_EMBEDDING_MODELS,
    default_config,
)
from wardgate.config.presets import PRESETS
from wardgate.config.reload import ConfigWatcher
from wardgate.config.schema import AzureProvider, CompatibleProvider, OpenAIProvider, SimulatedProvider

SECRET = "sk-test-very-secret-0123456789"


def yml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the ``occurrence``-th ``needle``."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def problems_of(text: str, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env=env or {})
    assert info.value.problems, "a ConfigError must list at least one problem"
    return info.value.problems


def only_problem(text: str, env: dict[str, str] | None = None) -> ConfigProblem:
    problems = problems_of(text, env)
    assert len(problems) == 1, problems
    return problems[0]


def load(text: str, env: dict[str, str] | None = None) -> LoadedConfig:
    return load_config_text(text, env=env or {})


SIMULATED = yml(
    """
    providers:
      - name: sim
        type: simulated
    models:
      - name: chat
        deployments:
          - provider: sim
            model: simulated-chat
    """
)


def azure_with_deployment(deployment: str) -> str:
    return yml(
        f"""
        providers:
          - name: az
            type: azure_openai
            base_url: https://res.openai.azure.com
            api_key: ${{AZ_KEY}}
        models:
          - name: m
            deployments:
              - provider: az
                model: {json.dumps(deployment)}
        """
    )


# --- a valid file ---------------------------------------------------------------------------------------------


def test_valid_file_loads_with_source_and_no_warnings() -> None:
    loaded = load_config_text(SIMULATED, source="gw.yaml", env={})
    assert loaded.source == "gw.yaml"
    assert loaded.warnings == ()
    [provider] = loaded.config.providers
    assert isinstance(provider, SimulatedProvider)
    assert provider.name == "sim"
    [model] = loaded.config.models
    assert model.name == "chat"
    assert [(d.provider, d.model) for d in model.deployments] == [("sim", "simulated-chat")]


def test_empty_file_is_an_empty_config() -> None:
    config = load("").config
    assert config.providers == []
    assert config.models == []


def test_top_level_must_be_a_mapping() -> None:
    problem = only_problem("- a\n- b\n")
    assert problem.path == "(top level)"
    assert problem.line == 1
    assert "mapping" in problem.message


# --- unknown keys, several problems, lines --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "key"),
    [
        (
            yml(
                """
                server:
                  access_log: true
                  colour: red
                """
            ),
            "server.colour",
            "colour",
        ),
        (
            yml(
                """
                providers:
                  - name: sim
                    type: simulated
                    colour: red
                """
            ),
            "providers[0].colour",
            "colour",
        ),
        (
            yml(
                """
                providers:
                  - name: sim
                    type: simulated
                models:
                  - name: m
                    deployments:
                      - provider: sim
                        model: x
                        colour: red
                """
            ),
            "models[0].deployments[0].colour",
            "colour",
        ),
        ("extras: 1\n", "extras", "extras"),
    ],
    ids=["server", "provider", "deployment", "top-level"],
)
def test_unknown_key_is_reported_with_name_and_line(text: str, path: str, key: str) -> None:
    problem = only_problem(text)
    assert problem.path == path
    assert problem.line == line_of(text, f"{key}:")
    assert problem.message == f"unknown key {key!r}"


def test_unknown_key_in_an_openai_provider_drops_the_discriminator_tag_from_the_path() -> None:
    text = yml(
        """
        providers:
          - name: a
            type: simulated
          - name: o
            type: openai
            api_kee: ${OPENAI_API_KEY}
        """
    )
    problem = only_problem(text, {"OPENAI_API_KEY": SECRET})
    assert problem.path == "providers[1].api_kee"
    assert problem.line == line_of(text, "api_kee")


def test_several_problems_are_reported_at_once() -> None:
    text = yml(
        """
        server:
          colour: red
        providers:
          - name: sim
            type: simulated
            speed: 3
          - name: o
            type: openai
            api_key: ${MISSING_KEY}
        models:
          - name: m
            deployments:
              - provider: sim
                model: x
                wieght: 2  # a typo of weight
        """
    )
    problems = problems_of(text)
    found = {(p.path, p.line) for p in problems}
    assert found == {
        ("server.colour", line_of(text, "colour")),
        ("providers[0].speed", line_of(text, "speed")),
        ("providers[1].api_key", line_of(text, "api_key")),
        ("models[0].deployments[0].wieght", line_of(text, "wieght")),
    }
    assert "MISSING_KEY" in next(p.message for p in problems if p.path == "providers[1].api_key")


def test_problems_and_their_lines_appear_in_the_error_text() -> None:
    text = "server:\n  colour: red\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, source="gw.yaml", env={})
    assert info.value.source == "gw.yaml"
    assert str(info.value) == "gw.yaml: line 2: server.colour: unknown key 'colour'"


def test_reference_problems_are_reported_together_with_env_problems() -> None:
    text = yml(
        """
        providers:
          - name: o
            type: openai
            api_key: ${NOPE}
        models:
          - name: m
            deployments:
              - provider: ghost
                model: x
        """
    )
    found = {(p.path, p.line) for p in problems_of(text)}
    assert found == {
        ("providers[0].api_key", line_of(text, "api_key")),
        ("models[0].deployments[0].provider", line_of(text, "ghost")),
    }


def test_missing_required_key_points_at_the_enclosing_item() -> None:
    text = yml(
        """
        providers:
          - name: sim
            type: simulated
        models:
          - name: m
        """
    )
    problem = only_problem(text)
    assert problem.path == "models[0].deployments"
    assert problem.line == line_of(text, "- name: m")
    assert problem.message == "required key is missing"


def test_wrong_value_type_reports_pydantic_message_and_line() -> None:
    text = "server:\n  max_body_bytes: lots\n"
    problem = only_problem(text)
    assert problem.path == "server.max_body_bytes"
    assert problem.line == 2
    assert "integer" in problem.message


# --- environment substitution ---------------------------------------------------------------------------------


def openai_provider(**fields: str) -> str:
    lines = ["providers:", "  - name: o", "    type: openai"] + [f"    {k}: {v}" for k, v in fields.items()]
    return "\n".join(lines) + "\n"


def only_openai(loaded: LoadedConfig) -> OpenAIProvider:
    [provider] = loaded.config.providers
    assert isinstance(provider, OpenAIProvider)
    return provider


def test_env_reference_is_replaced_from_the_given_env() -> None:
    provider = only_openai(load(openai_provider(api_key="${MY_KEY}"), {"MY_KEY": SECRET}))
    assert provider.api_key is not None
    assert provider.api_key.get_secret_value() == SECRET


def test_env_reference_inside_a_longer_string() -> None:
    text = openai_provider(base_url="https://${HOST}:${PORT}/v1")
    provider = only_openai(load(text, {"HOST": "llm.internal", "PORT": "8443"}))
    assert provider.base_url == "https://llm.internal:8443/v1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "https://fallback.example/v1"),
        ({"BASE": "https://set.example/v1"}, "https://set.example/v1"),
        # `:-` means "unset or empty" in POSIX shells and docker compose, the syntax this borrows
        ({"BASE": ""}, "https://fallback.example/v1"),
    ],
    ids=["unset", "set", "set-but-empty"],
)
def test_env_reference_with_default(env: dict[str, str], expected: str) -> None:
    text = openai_provider(base_url="${BASE:-https://fallback.example/v1}")
    assert only_openai(load(text, env)).base_url == expected


def test_env_reference_without_default_may_be_empty() -> None:
    provider = only_openai(load(openai_provider(organization="${ORG}"), {"ORG": ""}))
    assert provider.organization == ""


def test_env_default_may_be_empty() -> None:
    provider = only_openai(load(openai_provider(organization="${ORG:-}")))
    assert provider.organization == ""


def test_substituted_value_is_not_substituted_again() -> None:
    provider = only_openai(load(openai_provider(organization="${ORG}"), {"ORG": "${OTHER}", "OTHER": "no"}))
    assert provider.organization == "${OTHER}"


def test_env_is_only_the_given_mapping_not_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDGATE_TEST_ONLY_IN_PROCESS", "present")
    problem = only_problem(openai_provider(api_key="${WARDGATE_TEST_ONLY_IN_PROCESS}"), {})
    assert "WARDGATE_TEST_ONLY_IN_PROCESS" in problem.message


def test_missing_env_var_is_reported_with_its_line() -> None:
    text = yml(
        """
        providers:
          - name: sim
            type: simulated
          - name: o
            type: openai
            organization: acme
            api_key: ${NOT_SET_ANYWHERE}
        """
    )
    problem = only_problem(text)
    assert problem.path == "providers[1].api_key"
    assert problem.line == line_of(text, "NOT_SET_ANYWHERE")
    assert problem.message == "environment variable NOT_SET_ANYWHERE is not set"


def test_each_missing_env_var_is_reported() -> None:
    text = openai_provider(base_url="https://${HOST_A}/${PATH_B}")
    problems = problems_of(text)
    messages = {p.message for p in problems if p.path == "providers[0].base_url"}
    assert "environment variable HOST_A is not set" in messages
    assert "environment variable PATH_B is not set" in messages


def test_substituted_yaml_syntax_stays_a_plain_string() -> None:
    provider = only_openai(load(openai_provider(organization="${ORG}"), {"ORG": "x\nextra: [1, 2]"}))
    assert provider.organization == "x\nextra: [1, 2]"


# --- invalid YAML and duplicate keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("server:\n  access_log: true\n  max_body_bytes: [1\nproviders: []\n", 4),
        ("server:\n\taccess_log: true\n", 2),
        ('models:\n  - name: "unterminated\n', 3),
    ],
    ids=["flow-sequence", "tab-indent", "unterminated-quote"],
)
def test_invalid_yaml_is_reported_with_line(text: str, line: int) -> None:
    problem = only_problem(text)
    assert problem.path == "(file)"
    assert problem.line == line
    assert problem.message.startswith("invalid YAML: ")


def test_duplicate_key_is_reported_at_the_second_occurrence() -> None:
    text = yml(
        """
        server:
          access_log: true
          log_level: info
          access_log: false
        """
    )
    problem = only_problem(text)
    assert problem.path == "server.access_log"
    assert problem.line == line_of(text, "access_log", occurrence=2)
    assert problem.message == "duplicate key"


def test_duplicate_keys_inside_list_items_and_at_top_level() -> None:
    text = yml(
        """
        providers:
          - name: a
            type: simulated
            name: b
        models: []
        models: []
        """
    )
    found = {(p.path, p.line, p.message) for p in problems_of(text)}
    assert found == {
        ("providers[0].name", line_of(text, "name: b"), "duplicate key"),
        ("models", line_of(text, "models", occurrence=2), "duplicate key"),
    }


# --- provider types -------------------------------------------------------------------------------------------


def test_provider_types_are_discriminated() -> None:
    text = yml(
        """
        providers:
          - name: o
            type: openai
          - name: az
            type: azure_openai
            base_url: https://res.openai.azure.com
            api_key: ${AZ}
          - name: c
            type: openai_compatible
            base_url: http://localhost:8000/v1
          - name: s
            type: simulated
        """
    )
    providers = load(text, {"AZ": SECRET}).config.providers
    assert [type(p) for p in providers] == [OpenAIProvider, AzureProvider, CompatibleProvider, SimulatedProvider]
    openai, azure, _, _ = providers
    assert isinstance(openai, OpenAIProvider)
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.api_key is None
    assert isinstance(azure, AzureProvider)
    assert azure.api_version == "2024-10-21"


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ("type: azure_openai\n    api_key: k", {"base_url"}),
        ("type: azure_openai\n    base_url: https://r.openai.azure.com", {"api_key"}),
        ("type: azure_openai", {"base_url", "api_key"}),
    ],
)
def test_azure_required_fields(body: str, missing: set[str]) -> None:
    text = f"providers:\n  - name: az\n    {body}\n"
    problems = problems_of(text)
    assert {p.path for p in problems} == {f"providers[0].{name}" for name in missing}
    assert {p.message for p in problems} == {"required key is missing"}
    assert {p.line for p in problems} == {2}


def test_provider_name_is_required() -> None:
    problem = only_problem("providers:\n  - type: simulated\n")
    assert problem.path == "providers[0].name"
    assert problem.message == "required key is missing"


@pytest.mark.parametrize(
    ("type_line", "fragment"),
    [("type: anthropic_v9", "anthropic_v9"), ("first_token_ms: 5", "discriminator 'type'")],
    ids=["unknown-type", "no-type"],
)
def test_unknown_or_missing_provider_type(type_line: str, fragment: str) -> None:
    text = f"providers:\n  - name: sim\n    type: simulated\n  - name: x\n    {type_line}\n"
    problem = only_problem(text)
    assert problem.path == "providers[1]"
    assert problem.line == 4
    assert fragment in problem.message


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_compatible_presets_without_key(preset: str) -> None:
    text = f"providers:\n  - name: c\n    type: openai_compatible\n    preset: {preset}\n"
    if PRESETS[preset].needs_key:
        problem = only_problem(text)
        assert problem.path == "providers[0]"
        assert f"preset {preset!r} needs api_key" in problem.message
        key_env = PRESETS[preset].key_env
        assert key_env is not None
        assert key_env in problem.message
    else:
        [provider] = load(text).config.providers
        assert isinstance(provider, CompatibleProvider)
        assert provider.preset == preset


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_compatible_presets_with_key(preset: str) -> None:
    text = f"providers:\n  - name: c\n    type: openai_compatible\n    preset: {preset}\n    api_key: ${{K}}\n"
    [provider] = load(text, {"K": SECRET}).config.providers
    assert isinstance(provider, CompatibleProvider)
    assert provider.api_key is not None
    assert provider.api_key.get_secret_value() == SECRET


def test_unknown_preset_lists_the_known_ones() -> None:
    problem = only_problem("providers:\n  - name: c\n    type: openai_compatible\n    preset: nonesuch\n")
    assert "unknown preset 'nonesuch'" in problem.message
    assert all(name in problem.message for name in PRESETS)


def test_compatible_needs_base_url_or_preset() -> None:
    problem = only_problem("providers:\n  - name: c\n    type: openai_compatible\n")
    assert problem.path == "providers[0]"
    assert problem.message == "needs base_url or a preset"


@pytest.mark.parametrize("header", ["Authorization", "api-key", "X-Api-Key", "Host", "content-length"])
def test_static_headers_may_not_carry_auth_or_framing(header: str) -> None:
    text = f"providers:\n  - name: s\n    type: simulated\n    headers:\n      {header}: x\n"
    problem = only_problem(text)
    assert problem.path == "providers[0].headers"
    assert "managed by the gateway" in problem.message


# --- base_url -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("https://user:pass@api.example.com/v1", "user info"),
        ("https://user@api.example.com/v1", "user info"),
        ("https://:pass@api.example.com/v1", "user info"),
        ("https://api.example.com@evil.example/v1", "user info"),
        ("https://api.example.com/v1?key=1", "query or fragment"),
        ("https://api.example.com/v1?", "query or fragment"),
        ("https://api.example.com/v1#frag", "query or fragment"),
        ("https://api.example.com/v1#", "query or fragment"),
        ("ftp://api.example.com/v1", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("api.example.com/v1", "http:// or https://"),
        ("https:///v1", "must name a host"),
    ],
)
@pytest.mark.parametrize("provider_type", ["openai", "openai_compatible", "azure_openai"])
def test_base_url_is_rejected(provider_type: str, url: str, fragment: str) -> None:
    text = yml(
        f"""
        providers:
          - name: p
            type: {provider_type}
            api_key: ${{K}}
            base_url: {json.dumps(url)}
        """
    )
    problem = only_problem(text, {"K": SECRET})
    assert problem.path == "providers[0].base_url"
    assert problem.line == line_of(text, "base_url")
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("https://api.example.com/v1/", "https://api.example.com/v1"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("https://[::1]:8443/v1", "https://[::1]:8443/v1"),
    ],
)
def test_base_url_is_accepted_without_trailing_slash(url: str, stored: str) -> None:
    provider = only_openai(load(openai_provider(base_url=json.dumps(url))))
    assert provider.base_url == stored


def test_base_url_from_env_is_validated_after_substitution() -> None:
    problem = only_problem(openai_provider(base_url="${URL}"), {"URL": "https://u:p@evil.example/v1"})
    assert problem.path == "providers[0].base_url"
    assert "user info" in problem.message


# --- references and names -------------------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", ["gpt-4o", "my.deploy_1-a", "A1"])
def test_azure_deployment_name_accepted(deployment: str) -> None:
    config = load(azure_with_deployment(deployment), {"AZ_KEY": SECRET}).config
    assert config.models[0].deployments[0].model == deployment


@pytest.mark.parametrize(
    "deployment",
    ["a#b", "a?b", "a/b", "../x", "..", "a b", "a%2Fb", "-lead", "gpt-4o\n"],
    ids=["hash", "question", "slash", "dotdot-slash", "dotdot", "space", "percent", "leading-dash", "trailing-newline"],
)
def test_azure_deployment_name_with_url_characters_rejected(deployment: str) -> None:
    text = azure_with_deployment(deployment)
    problem = only_problem(text, {"AZ_KEY": SECRET})
    assert problem.path == "models[0].deployments[0].model"
    assert problem.line == line_of(text, "model:")
    assert "Azure deployment name" in problem.message


def test_url_characters_are_fine_in_non_azure_deployments() -> None:
    text = SIMULATED.replace("model: simulated-chat", "model: org/model#1?x")
    assert load(text).config.models[0].deployments[0].model == "org/model#1?x"


def test_deployment_naming_unknown_provider() -> None:
    text = yml(
        """
        providers:
          - name: sim
            type: simulated
        models:
          - name: ok
            deployments:
              - provider: sim
                model: a
          - name: broken
            deployments:
              - provider: sim
                model: a
              - provider: typo
                model: b
        """
    )
    problem = only_problem(text)
    assert problem.path == "models[1].deployments[1].provider"
    assert problem.line == line_of(text, "provider: typo")
    assert problem.message == "unknown provider 'typo'"


def test_duplicate_provider_and_model_names() -> None:
    text = yml(
        """
        providers:
          - name: sim
            type: simulated
          - name: sim
            type: simulated
        models:
          - name: m
            deployments: [{provider: sim, model: a}]
          - name: m
            deployments: [{provider: sim, model: b}]
        """
    )
    found = {(p.path, p.line, p.message) for p in problems_of(text)}
    assert found == {
        ("providers[1].name", line_of(text, "name: sim", occurrence=2), "duplicate provider name 'sim'"),
        ("models[1].name", line_of(text, "name: m", occurrence=2), "duplicate model name 'm'"),
    }


def test_validating_directly_raises_on_reference_problems() -> None:
    with pytest.raises(pydantic.ValidationError, match="unknown provider 'nope'"):
        GatewayConfig.model_validate({"models": [{"name": "m", "deployments": [{"provider": "nope", "model": "x"}]}]})


# --- secrets and immutability ---------------------------------------------------------------------------------


def test_inline_secret_produces_a_warning_without_the_secret() -> None:
    text = yml(
        f"""
        providers:
          - name: o
            type: openai
            api_key: {SECRET}
        """
    )
    loaded = load(text)
    [warning] = loaded.warnings
    assert warning.path == "providers[0].api_key"
    assert warning.line == line_of(text, "api_key")
    assert "inline" in warning.message
    assert SECRET not in str(warning)


@pytest.mark.parametrize("value", ["${K}", "${K:-fallback}", "prefix-${K}"])
def test_env_referenced_secret_gives_no_warning(value: str) -> None:
    assert load(openai_provider(api_key=value), {"K": SECRET}).warnings == ()


def test_gateway_config_is_frozen() -> None:
    config = load(SIMULATED).config
    with pytest.raises(pydantic.ValidationError):
        config.models = []
    with pytest.raises(pydantic.ValidationError):
        config.providers[0].name = "other"
    with pytest.raises(pydantic.ValidationError):
        config.server.access_log = False
    assert config.providers[0].name == "sim"


def test_api_key_never_appears_in_repr_or_str() -> None:
    text = yml(
        """
        providers:
          - name: o
            type: openai
            api_key: ${K1}
          - name: az
            type: azure_openai
            base_url: https://res.openai.azure.com
            api_key: ${K2}
          - name: c
            type: openai_compatible
            preset: groq
            api_key: ${K3}
        """
    )
    secrets = {"K1": SECRET + "-1", "K2": SECRET + "-2", "K3": SECRET + "-3"}
    loaded = load(text, secrets)
    rendered = [repr(loaded), str(loaded), repr(loaded.config), str(loaded.config), loaded.config.model_dump_json()]
    rendered += [repr(p) for p in loaded.config.providers] + [str(p) for p in loaded.config.providers]
    for text_form in rendered:
        assert SECRET not in text_form
    # the secret is still there for the code that needs it
    keys = [p.api_key for p in loaded.config.providers if not isinstance(p, SimulatedProvider)]
    assert [k.get_secret_value() if k is not None else None for k in keys] == list(secrets.values())


def test_secret_from_env_is_not_in_the_error_text_of_a_broken_file() -> None:
    text = openai_provider(api_key="${K}", colour="red")
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={"K": SECRET})
    assert SECRET not in str(info.value)
    assert all(SECRET not in str(p) for p in info.value.problems)


# --- files ----------------------------------------------------------------------------------------------------


def test_load_config_file_reads_utf8_and_uses_path_as_source(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(SIMULATED.replace("name: chat", "name: chat\n    description: Grüße"), encoding="utf-8")
    loaded = load_config_file(path, env={})
    assert loaded.source == str(path)
    assert loaded.config.models[0].description == "Grüße"


def test_load_config_file_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_config_file(path, env={})
    [problem] = info.value.problems
    assert info.value.source == str(path)
    assert problem.path == "(file)"
    assert problem.line is None
    assert problem.message.startswith("cannot read")


def test_load_config_file_uses_the_given_env(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(openai_provider(api_key="${FILE_KEY}"), encoding="utf-8")
    provider = only_openai(load_config_file(path, env={"FILE_KEY": SECRET}))
    assert provider.api_key is not None
    assert provider.api_key.get_secret_value() == SECRET


# --- zero-config defaults -------------------------------------------------------------------------------------


def test_default_config_without_keys_is_simulated_only() -> None:
    loaded = default_config({})
    assert [(p.name, p.type) for p in loaded.config.providers] == [("simulated", "simulated")]
    names = [m.name for m in loaded.config.models]
    assert names == [*SIMULATED_CHAT_MODELS, *SIMULATED_EMBEDDING_MODELS]
    assert all(d.provider == "simulated" for m in loaded.config.models for d in m.deployments)
    assert loaded.warnings == ()


@pytest.mark.parametrize("env", [{"OPENAI_API_KEY": ""}, {"OPENAI_BASE_URL": "https://x.example/v1"}])
def test_default_config_ignores_openai_without_a_key(env: dict[str, str]) -> None:
    assert [p.name for p in default_config(env).config.providers] == ["simulated"]


def test_default_config_adds_openai_when_key_is_in_env() -> None:
    config = default_config({"OPENAI_API_KEY": SECRET}).config
    assert [p.name for p in config.providers] == ["simulated", "openai"]
    openai = config.providers[1]
    assert isinstance(openai, OpenAIProvider)
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == SECRET
    by_name = {m.name: m for m in config.models}
    assert set(by_name) == {*SIMULATED_CHAT_MODELS, *SIMULATED_EMBEDDING_MODELS, *OPENAI_MODELS}
    for name in OPENAI_MODELS:
        assert [(d.provider, d.model) for d in by_name[name].deployments] == [("openai", name)]
    assert SECRET not in repr(config)


def test_default_config_honours_openai_base_url() -> None:
    config = default_config({"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": "http://proxy.local:9000/v1/"}).config
    openai = config.providers[1]
    assert isinstance(openai, OpenAIProvider)
    assert openai.base_url == "http://proxy.local:9000/v1"


# --- hot reload -----------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.applied: list[LoadedConfig] = []
        self.errors: list[ConfigError] = []

    def apply(self, loaded: LoadedConfig) -> None:
        self.applied.append(loaded)

    def on_error(self, error: ConfigError) -> None:
        self.errors.append(error)


def config_with_model(name: str) -> str:
    return SIMULATED.replace("name: chat", f"name: {name}")


def bump_mtime(path: Path) -> None:
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))


@pytest.fixture
def watched(tmp_path: Path) -> tuple[Path, ConfigWatcher, Recorder]:
    path = tmp_path / "gw.yaml"
    path.write_text(config_with_model("first"), encoding="utf-8")
    recorder = Recorder()
    return path, ConfigWatcher(path, recorder.apply, recorder.on_error), recorder


def test_watcher_unchanged_file_is_not_reloaded(watched: tuple[Path, ConfigWatcher, Recorder]) -> None:
    _, watcher, recorder = watched
    assert watcher.check() is False
    assert watcher.check() is False
    assert recorder.applied == []
    assert recorder.errors == []


def test_watcher_applies_a_changed_file_once(watched: tuple[Path, ConfigWatcher, Recorder]) -> None:
    path, watcher, recorder = watched
    path.write_text(config_with_model("second-and-longer"), encoding="utf-8")
    assert watcher.check() is True
    [loaded] = recorder.applied
    assert loaded.source == str(path)
    assert [m.name for m in loaded.config.models] == ["second-and-longer"]
    assert watcher.check() is False
    assert len(recorder.applied) == 1
    assert recorder.errors == []


def test_watcher_sees_a_same_size_change_by_mtime(watched: tuple[Path, ConfigWatcher, Recorder]) -> None:
    path, watcher, recorder = watched
    path.write_text(config_with_model("secnd"), encoding="utf-8")  # same length as "first"
    bump_mtime(path)
    assert watcher.check() is True
    assert [m.name for m in recorder.applied[-1].config.models] == ["secnd"]


def test_watcher_sees_a_replaced_file(watched: tuple[Path, ConfigWatcher, Recorder], tmp_path: Path) -> None:
    path, watcher, recorder = watched
    replacement = tmp_path / "new.yaml"
    replacement.write_text(config_with_model("replaced-model"), encoding="utf-8")
    os.replace(replacement, path)
    assert watcher.check() is True
    assert [m.name for m in recorder.applied[-1].config.models] == ["replaced-model"]


def test_watcher_broken_file_calls_on_error_not_apply(watched: tuple[Path, ConfigWatcher, Recorder]) -> None:
    path, watcher, recorder = watched
    path.write_text(config_with_model("m") + "colour: red\n", encoding="utf-8")
    assert watcher.check() is False
    assert recorder.applied == []
    [error] = recorder.errors
    assert [p.path for p in error.problems] == ["colour"]
    # the same broken file is not reported again; a fixed one is applied
    assert watcher.check() is False
    assert len(recorder.errors) == 1
    path.write_text(config_with_model("fixed"), encoding="utf-8")
    bump_mtime(path)
    assert watcher.check() is True
    assert [m.name for m in recorder.applied[-1].config.models] == ["fixed"]


def test_watcher_invalid_yaml_calls_on_error(watched: tuple[Path, ConfigWatcher, Recorder]) -> None:
    path, watcher, recorder = watched
    path.write_text("models: [\n", encoding="utf-8")
    assert watcher.check() is False
    assert recorder.applied == []
    assert recorder.errors[0].problems[0].message.startswith("invalid YAML")


def test_watcher_deleted_file_keeps_the_old_config(watched: tuple[Path, ConfigWatcher, Recorder]) -> None:
    path, watcher, recorder = watched
    path.unlink()
    assert watcher.check() is False
    assert recorder.applied == []
    assert recorder.errors == []


def test_watcher_without_on_error_tolerates_a_broken_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(SIMULATED, encoding="utf-8")
    applied: list[LoadedConfig] = []
    watcher = ConfigWatcher(path, applied.append)
    path.write_text("providers: 3\nmore: 1\n", encoding="utf-8")
    assert watcher.check() is False
    assert applied == []
