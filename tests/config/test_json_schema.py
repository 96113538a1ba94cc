"""The published JSON Schema: generated from the classes that validate the file, shipped in the
package and in docs/, and every example config in the docs valid against it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from multimodel.config.json_schema import SHIPPED, generate
from multimodel.config.schema import parse

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_LINE = "# yaml-language-server: $schema="


def test_the_shipped_schema_is_the_generated_one() -> None:
    """Regenerate both with `multimodel config schema --builtin-only`."""
    expected = json.dumps(generate(plugins=False), indent=2) + "\n"
    assert SHIPPED.read_text() == expected
    assert (ROOT / "docs" / "multimodel.schema.json").read_text() == expected


def _examples() -> list[tuple[str, str]]:
    """Every YAML block in the README and docs/ that says which schema it follows."""
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S):
            if block.startswith(SCHEMA_LINE):
                found.append((doc.name, block))
    return found


EXAMPLES = _examples()
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text()))


def test_the_docs_have_example_configs() -> None:
    assert len(EXAMPLES) >= 3 and any(name == "README.md" for name, _ in EXAMPLES)


@pytest.mark.parametrize(("doc", "text"), EXAMPLES, ids=[f"{d}#{i}" for i, (d, _) in enumerate(EXAMPLES)])
def test_each_example_config_is_valid(doc: str, text: str) -> None:
    raw = yaml.safe_load(text)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(raw)]
    assert not errors, errors
    parse(raw, source=doc)  # and the gateway reads it


@pytest.mark.parametrize(
    "raw",
    [
        {"log_content": "false"},
        {"port": "8000"},
        {"colour": "blue"},
        {"models": [{"name": "m", "provider": "openai", "model": "x", "weight": "3"}]},
        {
            "models": [
                {"name": "m", "provider": "openai-compatible", "model": "x", "options": {"vison": False}}
            ]
        },
        {
            "models": [
                {"name": "m", "provider": "openai-compatible", "model": "x", "options": {"tools": "no"}}
            ]
        },
        {"models": [{"name": "m", "provider": "openai", "model": "x", "strategy": "fastest"}]},
        {"models": [{"name": "m", "model": "x", "deployments": [{"provider": "openai", "model": "x"}]}]},
        {"models": [{"name": "m"}]},
    ],
)
def test_the_schema_refuses_what_the_gateway_refuses(raw: dict[str, Any]) -> None:
    raw = {"models": [{"name": "m", "provider": "openai", "model": "x"}]} | raw
    assert list(VALIDATOR.iter_errors(raw))
