"""multimodel config check · show · schema · env, and start-up's one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.cli.test_config_errors import _serve

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "multimodel.cli", "config", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **(env or {})},
    )


CONFIG = """\
database: postgresql://mm:hunter2@db.internal:5432/mm
models:
  - name: gpt
    provider: openai
    model: gpt-4o
    api_key_env: MM_UNSET_KEY
    options: {headers: {x-upstream-key: sk-very-secret}}
  - name: local
    deployments:
      - {provider: openai-compatible, model: llama, api_base: "http://127.0.0.1:9/v1", options: {vision: false}}
    retries: {attempts: 1}
auth: {redis_url: "redis://:redispass@127.0.0.1:6379/0"}
"""


def test_check_accepts_a_good_file_without_any_key_set(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    r = _cli("check", "c.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "c.yaml: ok (2 models, 2 deployments)"
    assert "MM_UNSET_KEY is not set here" in r.stderr  # a note: the server may have it


def test_check_refuses_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG.replace("vision: false", "vison: false"))
    r = _cli("check", "c.yaml", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "multimodel: c.yaml: unknown key 'vison' in models[1].deployments[0].options (model 'local'); "
        "did you mean 'vision'?"
    ]


def test_show_prints_every_default_in_a_file_check_accepts_with_secrets_masked(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(CONFIG)
    r = _cli("show", "--config", "c.yaml", cwd=tmp_path, env={"MULTIMODEL_PORT": "9100"})
    assert r.returncode == 0, r.stderr
    for secret in ("hunter2", "sk-very-secret", "redispass"):
        assert secret not in r.stdout
    assert r.stdout.startswith("# c.yaml (environment: MULTIMODEL_PORT)\n")
    shown = yaml.safe_load(r.stdout)
    assert shown["port"] == 9100 and shown["database"] == "postgresql://mm:***@db.internal:5432/mm"
    gpt, local = shown["models"]
    assert gpt["deployments"][0]["options"] == {
        "headers": {"x-upstream-key": "***"}, "max_tokens_field": "max_completion_tokens", "stream_usage": True,
        "responses_api": True,
    }  # fmt: skip
    assert local["retries"] == {"attempts": 1, "backoff_s": 0.5, "max_backoff_s": 8.0}
    assert local["deployments"][0]["id"] == "local#1" and local["deployments"][0]["options"]["tools"] is True
    (tmp_path / "shown.yaml").write_text(r.stdout)
    again = _cli("check", "shown.yaml", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_schema_and_env(tmp_path: Path) -> None:
    r = _cli("schema", "--builtin-only", cwd=tmp_path)
    assert json.loads(r.stdout) == json.loads(
        (ROOT / "multimodel" / "config" / "multimodel.schema.json").read_text()
    )
    r = _cli("env", cwd=tmp_path)
    assert "MULTIMODEL_AUTH__REQUIRE_KEYS" in r.stdout and "auth.require_keys" in r.stdout


def test_start_up_refuses_a_misread_setting_with_one_line(tmp_path: Path) -> None:
    for text, words in [
        ("log_queue_size: abc\n", ["log_queue_size", "integer", "'abc'"]),
        ("log_content: 'false'\n", ["log_content", "boolean"]),
    ]:
        r = _serve(tmp_path, text + "models:\n  - {name: m1, provider: openai, model: x}\n")
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
        for w in words:
            assert w in lines[0]
    r = _serve(tmp_path, None, env={"MULTIMODEL_PORT": "eighty"})
    assert r.returncode == 2 and "MULTIMODEL_PORT" in r.stderr and "Traceback" not in r.stderr
