"""Codex CLI (`codex exec`) through Multimodel over the Responses API to an OpenAI upstream: its
request arrives as written (built-in and namespace tools, reasoning, include), its answer is
printed, and a shell tool-call round trip completes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import cli, run
from tests.fakes.upstream import FakeUpstream, Reply, ToolReply
from tests.support.gateway import GatewayProcess

MODEL = "gpt-test"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[GatewayProcess, FakeUpstream]]:
    with FakeUpstream() as up:
        models = [{"name": MODEL, "provider": "openai", "model": "gpt-upstream", "api_base": up.openai_base}]
        config = {"database": f"sqlite:///{tmp_path / 'usage.db'}", "models": models}
        with GatewayProcess(tmp_path, config) as gw:
            yield gw, up


def _codex(gw: GatewayProcess, tmp_path: Path, prompt: str) -> Any:
    home = tmp_path / "codex-home"
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{MODEL}"\nmodel_provider = "multimodel"\n\n'
        "[model_providers.multimodel]\n"
        'name = "Multimodel"\n'
        f'base_url = "{gw.openai_base}"\n'
        'env_key = "MULTIMODEL_GATEWAY_KEY"\n'
        'wire_api = "responses"\n'
    )
    env = {"HOME": str(home), "CODEX_HOME": str(home), "MULTIMODEL_GATEWAY_KEY": "gateway-key"}
    args = [str(cli("codex")), "exec", "--skip-git-repo-check", "--sandbox", "read-only", prompt]
    return run(args, env, tmp_path)


def test_codex_answers_through_the_responses_api(
    gateway: tuple[GatewayProcess, FakeUpstream], tmp_path: Path
) -> None:
    gw, up = gateway
    up.push(Reply("Hello from the fake upstream."))
    r = _codex(gw, tmp_path, "Say hello")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "Hello from the fake upstream." in r.stdout
    sent = up.requests[-1]
    body = sent.body or {}
    assert sent.path == "/v1/responses" and body["model"] == "gpt-upstream" and body["stream"] is True
    kinds = {t.get("type") for t in body["tools"]}
    assert "function" in kinds and len(kinds) > 1  # built-in / namespace tools passed as Codex wrote them
    assert "reasoning" in body and "include" in body


def test_a_shell_tool_call_round_trip_through_codex(
    gateway: tuple[GatewayProcess, FakeUpstream], tmp_path: Path
) -> None:
    gw, up = gateway
    up.push(
        ToolReply(name="exec_command", arguments=json.dumps({"cmd": "echo multimodel-tool-ok"})),
        Reply("The command printed its word."),
    )
    r = _codex(gw, tmp_path, "Run echo")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "The command printed its word." in r.stdout
    outputs = [i for i in (up.requests[-1].body or {})["input"] if i.get("type") == "function_call_output"]
    assert outputs and "multimodel-tool-ok" in json.dumps(outputs[-1])
