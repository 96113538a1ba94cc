"""Claude Code (`claude -p`) through Multimodel to an Anthropic upstream: what the CLI sent arrives
unchanged (cache markers, thinking, context management, betas, system blocks), its answer is
printed, and a tool-call round trip completes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import cli, run
from tests.fakes.upstream import FakeUpstream, Reply, ToolReply
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess

MODEL = "claude-sonnet-4-5"  # a name Claude Code knows; served by the fake upstream


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[GatewayProcess, FakeUpstream]]:
    with FakeUpstream() as up:
        models = [
            {
                "name": MODEL,
                "provider": "anthropic",
                "model": "claude-upstream",
                "api_base": up.anthropic_base,
            }
        ]
        config = {"database": f"sqlite:///{tmp_path / 'usage.db'}", "models": models}
        with GatewayProcess(tmp_path, config) as gw:
            yield gw, up


def _claude(gw: GatewayProcess, tmp_path: Path, *args: str) -> Any:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gw.url,
        "ANTHROPIC_API_KEY": "sk-ant-gateway-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",  # no telemetry, updates or other hosts
        "DISABLE_AUTOUPDATER": "1",
    }
    return run([str(cli("claude")), "-p", *args, "--model", MODEL], env, tmp_path)


def test_claude_code_answers_and_its_request_arrives_whole(
    gateway: tuple[GatewayProcess, FakeUpstream], tmp_path: Path
) -> None:
    gw, up = gateway
    up.push(Reply("Hello from the fake upstream."))
    r = _claude(gw, tmp_path, "Say hello")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "Hello from the fake upstream."
    sent = up.requests[-1]
    body = sent.body or {}
    assert sent.path == "/v1/messages" and sent.query.get("beta") == "true"
    assert "claude-code-20250219" in sent.headers.get("anthropic-beta", "")
    assert body["model"] == "claude-upstream"
    text = json.dumps(body)
    assert text.count('"cache_control"') >= 2  # on the system blocks and the last message
    assert isinstance(body["system"], list) and len(body["system"]) >= 2  # blocks, not one string
    assert body["thinking"]["type"] in ("enabled", "adaptive")
    assert "context_management" in body and body["tools"]
    deadline = time.monotonic() + 10
    while not (row := rows(f"sqlite:///{tmp_path / 'usage.db'}", "usage")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the writer batches in the background
    assert [(r["api_format"], r["public_model"], r["status"]) for r in row] == [("anthropic", MODEL, 200)]


def test_a_tool_call_round_trip_through_claude_code(
    gateway: tuple[GatewayProcess, FakeUpstream], tmp_path: Path
) -> None:
    gw, up = gateway
    command = {"command": "echo multimodel-tool-ok", "description": "Print a word"}
    up.push(ToolReply(name="Bash", arguments=json.dumps(command)), Reply("The tool printed its word."))
    r = _claude(gw, tmp_path, "Run the echo command", "--allowedTools", "Bash")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "The tool printed its word."
    first, second = up.requests[-2:]
    call = next(b for b in (first.body or {})["messages"][-1]["content"] if b.get("type") == "text")
    assert call  # the prompt went up
    results = [b for b in (second.body or {})["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert len(results) == 1 and "multimodel-tool-ok" in json.dumps(results[0]["content"])
    # The assistant turn with the tool call came back to the upstream as the CLI replayed it.
    assert any(
        b.get("type") == "tool_use" and b.get("name") == "Bash"
        for b in (second.body or {})["messages"][-2]["content"]
    )
