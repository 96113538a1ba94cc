"""Config errors stop start-up with one clear line naming the model and the field, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MODEL = {"name": "m1", "provider": "openai", "model": "gpt-4o"}


def _serve(
    tmp_path: Path, config_text: str | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "multimodel.cli", "serve", "--port", "0"]
    if config_text is not None:
        (tmp_path / "c.yaml").write_text(config_text)
        args += ["--config", str(tmp_path / "c.yaml")]
    return subprocess.run(
        args,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("models:\n  - {name: m1, provider: openia, model: x}\n", ["'m1'", "models[0].provider", "openia"]),
        ("models:\n  - {name: m1, provider: openai}\n", ["'m1'", "missing key 'model'"]),
        ("models:\n  - {provider: openai, model: x}\n", ["models[0]", "'name'"]),
        (
            "models:\n  - {name: m1, provider: openai, model: x, api_key_env: NOT_SET_ANYWHERE}\n",
            ["'m1'", "'api_key_env'", "NOT_SET_ANYWHERE"],
        ),
        ("models:\n  - {name: m1, provider: openai-compatible, model: x}\n", ["'m1'", "'api_base'"]),
        ("models:\n  - {name: m1, provider: openai, model: x, price: 3}\n", ["'m1'", "models[0].price"]),
        ("models:\n  - {name: m1, provider: inhouse, model: /no/such/dir}\n", ["'m1'", "/no/such/dir"]),
        ("models: [\n", ["not valid YAML"]),
        (
            "database: mysql://x\nmodels:\n  - {name: m1, provider: openai, model: x}\n",
            ["database", "sqlite:///"],
        ),
        ("colour: blue\nmodels:\n  - {name: m1, provider: openai, model: x}\n", ["unknown key 'colour'"]),
        (
            "log_content_max_bytes: -1\nmodels:\n  - {name: m1, provider: openai, model: x}\n",
            ["log_content_max_bytes", "greater than or equal to 0"],
        ),
        (
            "models:\n  - {name: m1, provider: openai, model: x}\npreference: {auto: {candidates: [m1, m9]}}\n",
            ["preference.auto.candidates", "'m9'"],
        ),
        (
            "models:\n  - {name: m1, provider: openai, model: x}\nauth: {require_keys: 'yes'}\n",
            ["auth.require_keys", "boolean"],
        ),
        (
            "models:\n  - {name: m1, provider: openai, model: x}\nauth: {keys: []}\n",
            ["unknown key 'keys' in auth"],
        ),
        (
            "models:\n  - {name: m1, provider: openai, model: x}\nauth: {redis_url: 'localhost:6379'}\n",
            ["auth.redis_url", "redis://"],
        ),
    ],
)
def test_config_error_is_one_clear_line(tmp_path: Path, config: str, expected: list[str]) -> None:
    r = _serve(tmp_path, config)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for word in expected:
        assert word in lines[0]


def test_unreadable_config_file(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "multimodel.cli", "serve", "--config", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "cannot read" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    config = "database: postgresql://nobody@127.0.0.1:1/none\nmodels:\n  - {name: m1, provider: openai, model: x}\n"
    r = _serve(tmp_path, config)
    assert r.returncode == 2 and "database" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
