"""The configuration example in README.md is a valid config (documentation that cannot rot)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wardgate.config.loader import load_config_text

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_config_example_validates() -> None:
    text = README.read_text()
    section = text[text.index("## Configuration reference") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example is not None
    env = {name: "x" for name in re.findall(r"\$\{([A-Z_]+)", example.group(1))}
    env["VERTEX_SERVICE_ACCOUNT_JSON"] = json.dumps({"client_email": "a@b.iam", "private_key": "k"})
    loaded = load_config_text(example.group(1), env=env)
    types = {p.type for p in loaded.config.providers}
    assert types == {
        "openai",
        "azure_openai",
        "openai_compatible",
        "simulated",
        "anthropic",
        "gemini",
        "vertex_ai",
        "bedrock",
    }
