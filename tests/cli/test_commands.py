"""`multimodel models` and `multimodel chat` against local upstreams; `/ready` of a running gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.conftest import KEY_ENV, standard_models
from tests.fakes.upstream import FakeUpstream, Reply
from tests.support.gateway import GatewayProcess


def _cli(tmp_path: Path, up: FakeUpstream, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "multimodel.yaml"
    config.write_text(
        yaml.safe_dump({"database": f"sqlite:///{tmp_path / 'u.db'}", "models": standard_models(up)})
    )
    return subprocess.run(
        [sys.executable, "-m", "multimodel.cli", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **KEY_ENV},
    )


def test_models_lists_reachability(tmp_path: Path, up: FakeUpstream) -> None:
    r = _cli(tmp_path, up, "models")
    assert r.returncode == 0, r.stderr
    lines = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert "reachable" in lines["gpt-test"] and "unreachable" not in lines["gpt-test"]
    assert "unreachable" in lines["down-test"]
    assert set(lines) == {m["name"] for m in standard_models(up)}


def test_chat_streams_an_answer(tmp_path: Path, up: FakeUpstream) -> None:
    up.push(Reply(text="To be or not to be", input_tokens=4, output_tokens=6))
    r = _cli(tmp_path, up, "chat", "-m", "claude-test", "Quote Hamlet")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "To be or not to be"
    assert "4 input tokens, 6 output tokens" in r.stderr
    assert up.requests[-1].body["stream"] is True  # type: ignore[index]


def test_chat_unknown_model_is_one_line(tmp_path: Path, up: FakeUpstream) -> None:
    r = _cli(tmp_path, up, "chat", "-m", "nope", "hi")
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr


def test_ready_reports_database_and_log_queue(gateway: GatewayProcess) -> None:
    r = httpx.get(gateway.url + "/ready")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] == "writable" and body["usage_log"]["dropped"] == 0
    assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}


def test_database_outage_never_fails_a_model_call(tmp_path: Path, up: FakeUpstream) -> None:
    import sqlite3

    db = tmp_path / "usage.db"
    with GatewayProcess(
        tmp_path, {"database": f"sqlite:///{db}", "models": standard_models(up)}, env=KEY_ENV
    ) as gw:
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # the database is now unwritable for everyone else
        try:
            assert httpx.get(gw.url + "/ready").status_code == 503
            ids = []
            for i in range(5):
                r = httpx.post(
                    gw.openai_base + "/chat/completions",
                    json={"model": "gpt-test", "messages": [{"role": "user", "content": f"m{i}"}]},
                )
                assert r.status_code == 200
                ids.append(r.headers["x-request-id"])
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert gw.stop() == 0
    with sqlite3.connect(db) as c:
        stored = {row[0] for row in c.execute("SELECT request_id FROM usage")}
    assert stored == set(ids)
