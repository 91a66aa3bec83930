"""Load a YAML config file into a validated :class:`GatewayConfig`, reporting every problem with its line.

``${NAME}`` and ``${NAME:-default}`` in string values are replaced from the environment before validation, so
secrets never need to be written inline. ``${credential:NAME}`` as a provider secret refers to a credential stored
in the vault: the loader records it (``LoadedConfig.credential_refs``) and the gateway fills it in with
:func:`resolve_credentials` when it builds a snapshot. Problems are collected, never raised one at a time:
``config check`` prints them all.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from wardgate.config.credential_refs import CONTEXT_KEY, CredentialRef, mentions_reference, parse_reference
from wardgate.config.schema import GatewayConfig, format_path, reference_problems

PathKey = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEYS = {"api_key"}


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}"


class ConfigError(Exception):
    """A config that cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    config: GatewayConfig
    source: str
    warnings: tuple[ConfigProblem, ...] = ()
    credential_refs: tuple[CredentialRef, ...] = ()
    """``${credential:NAME}`` references, in file order; ``config`` holds them unresolved until
    :func:`resolve_credentials` fills them in."""


def load_config_file(path: str | Path, env: Mapping[str, str] | None = None) -> LoadedConfig:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [ConfigProblem("(file)", None, f"cannot read: {exc.strerror}")]) from None
    return load_config_text(text, source=source, env=os.environ if env is None else env)


def load_config_text(text: str, *, source: str = "<config>", env: Mapping[str, str]) -> LoadedConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [ConfigProblem("(file)", line, f"invalid YAML: {reason}")]) from None
    lines: dict[PathKey, int] = {}
    problems: list[ConfigProblem] = []
    if root is not None:
        _index_lines(root, (), lines, problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(ConfigProblem("(top level)", 1, "the file must contain a mapping"))
        raise ConfigError(source, problems)
    warnings: list[ConfigProblem] = []
    refs: list[CredentialRef] = []
    data = _substitute(data, (), env, lines, problems, warnings, refs)
    try:
        config = GatewayConfig.model_validate(data, context={"defer_references": True, CONTEXT_KEY: True})
    except ValidationError as exc:
        raise ConfigError(source, problems + _from_validation(exc, data, lines)) from None
    for path, message in reference_problems(config):
        problems.append(ConfigProblem(format_path(path), _line_for(path, lines), message))
    if problems:
        raise ConfigError(source, problems)
    return LoadedConfig(config=config, source=source, warnings=tuple(warnings), credential_refs=tuple(refs))


def resolve_credentials(
    loaded: LoadedConfig, secrets: Mapping[str, str], unavailable: Mapping[str, str] | None = None
) -> LoadedConfig:
    """``loaded`` with every ``${credential:NAME}`` filled in from ``secrets`` (name → plaintext).

    The references stay recorded, so resolving the result again with newer secrets replaces them again. A
    credential missing from ``secrets`` is a :class:`ConfigError` naming it (``unavailable`` may give the reason:
    name → e.g. "could not be decrypted: …"); so is a secret its field refuses (a Vertex ``credentials`` value
    that is not service account JSON). No message contains a secret.
    """
    if not loaded.credential_refs:
        return loaded
    problems: list[ConfigProblem] = []
    values: dict[int, dict[str, str]] = {}
    for ref in loaded.credential_refs:
        secret = secrets.get(ref.name)
        if secret is None:
            missing = f"does not exist; store it with `wardgate secrets set {ref.name}`"
            reason = (unavailable or {}).get(ref.name, missing)
            problems.append(ConfigProblem(ref.path, ref.line, f"credential {ref.name!r} {reason}"))
        else:
            values.setdefault(ref.provider_index, {})[ref.field] = secret
    providers = list(loaded.config.providers)
    for index, fields in values.items():
        provider = providers[index]
        try:
            providers[index] = type(provider).model_validate({**provider.model_dump(), **fields})
        except ValidationError as exc:
            problems += _resolution_problems(exc, index, loaded.credential_refs)
    if problems:
        raise ConfigError(loaded.source, sorted(problems, key=lambda p: p.line or 0))
    return dataclasses.replace(loaded, config=loaded.config.model_copy(update={"providers": providers}))


def _resolution_problems(exc: ValidationError, index: int, refs: tuple[CredentialRef, ...]) -> list[ConfigProblem]:
    by_field = {ref.field: ref for ref in refs if ref.provider_index == index}
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        ref = by_field.get(field)
        message = error["msg"].removeprefix("Value error, ")
        if ref is None:  # pragma: no cover - only referenced fields change, so only they can fail
            problems.append(ConfigProblem(f"providers[{index}]", None, message))
        else:
            problems.append(ConfigProblem(ref.path, ref.line, f"credential {ref.name!r}: {message}"))
    return problems


def _index_lines(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], problems: list[ConfigProblem]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(ConfigProblem(format_path((*path, key)), key_node.start_mark.line + 1, "duplicate key"))
            seen.add(key)
            _index_lines(value_node, (*path, key), lines, problems)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), lines, problems)


def _substitute(
    value: Any,
    path: PathKey,
    env: Mapping[str, str],
    lines: dict[PathKey, int],
    problems: list[ConfigProblem],
    warnings: list[ConfigProblem],
    refs: list[CredentialRef],
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, (*path, k), env, lines, problems, warnings, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*path, i), env, lines, problems, warnings, refs) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    if mentions_reference(value):  # ${credential:NAME}: recorded, left in place, resolved by the gateway
        ref, problem = parse_reference(path, value)
        if ref is not None:
            refs.append(dataclasses.replace(ref, line=_line_for(path, lines)))
        else:
            problems.append(ConfigProblem(format_path(path), _line_for(path, lines), str(problem)))
        return value
    if path and path[-1] in _SECRET_KEYS and not _ENV_REF.search(value) and value:
        warnings.append(
            ConfigProblem(format_path(path), _line_for(path, lines), "secret written inline; prefer ${ENV_NAME}")
        )

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is not None and (value or default is None):
            return value
        if default is not None:  # like POSIX ${NAME:-default}: used when unset or empty
            return default
        problems.append(
            ConfigProblem(format_path(path), _line_for(path, lines), f"environment variable {name} is not set")
        )
        return ""

    substituted = _ENV_REF.sub(replace, value)
    if mentions_reference(substituted):
        problems.append(
            ConfigProblem(
                format_path(path),
                _line_for(path, lines),
                "an environment variable's value may not hold a credential reference; write ${credential:NAME} "
                "in the file itself",
            )
        )
    return substituted


def _from_validation(exc: ValidationError, data: Any, lines: dict[PathKey, int]) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        path = _data_path(tuple(error["loc"]), data)
        if error["type"] == "extra_forbidden":
            message = f"unknown key {path[-1]!r}" if path else "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
        problems.append(ConfigProblem(format_path(path), _line_for(path, lines), message))
    return problems


def _data_path(loc: tuple[Any, ...], data: Any) -> PathKey:
    """Drop the discriminator tags pydantic inserts into locations (``providers.0.openai.base_url``)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue  # a union tag, not a key of the file
        path.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(path)


def _line_for(path: PathKey, lines: dict[PathKey, int]) -> int | None:
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None
