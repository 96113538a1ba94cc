"""The usage log end to end: one row per client request, whatever happened to it, with the
right token counts and cost; nothing lost on SIGTERM; the same on PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import KEY_ENV, standard_models
from tests.fakes.upstream import FakeUpstream, Reply
from tests.support.databases import postgres_schema, rows
from tests.support.gateway import GatewayProcess


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'usage.db'}"
        return
    with postgres_schema() as url:
        yield url


def _rows(url: str) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in rows(url, "usage")}


async def _one(client: httpx.AsyncClient, kind: str, i: int) -> tuple[str, dict[str, Any]]:
    """Send one request of a kind; return its request id and what its usage row must say."""
    words = " ".join(f"w{j}" for j in range(1 + i % 7))
    n = len(words.split())
    ok = {
        "status": 200,
        "error_type": None,
        "input_tokens": n,
        "output_tokens": n + 1,
    }  # the fake echoes "Echo: " + prompt
    if kind == "openai":
        r = await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-test", "messages": [{"role": "user", "content": words}]},
        )
        want = {**ok, "api_format": "openai", "stream": False, "public_model": "gpt-test"}
    elif kind == "openai-stream":
        r = await client.post(
            "/v1/chat/completions",
            json={"model": "claude-test", "stream": True, "messages": [{"role": "user", "content": words}]},
        )
        want = {**ok, "api_format": "openai", "stream": True, "public_model": "claude-test"}
    elif kind == "anthropic-stream":
        r = await client.post(
            "/v1/messages",
            json={
                "model": "gpt-test",
                "max_tokens": 50,
                "stream": True,
                "messages": [{"role": "user", "content": words}],
            },
        )
        want = {**ok, "api_format": "anthropic", "stream": True, "public_model": "gpt-test"}
    elif kind == "unknown-model":
        r = await client.post(
            "/v1/messages",
            json={"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        )
        want = {
            "status": 404,
            "error_type": "not_found",
            "input_tokens": 0,
            "output_tokens": 0,
            "public_model": "nope",
        }
    elif kind == "refused":
        r = await client.post(
            "/v1/chat/completions",
            json={"model": "down-test", "messages": [{"role": "user", "content": "x"}]},
        )
        want = {"status": 502, "error_type": "upstream", "provider": "openai-compatible"}
    else:  # invalid
        r = await client.post("/v1/chat/completions", json={"model": "gpt-test", "messages": []})
        want = {"status": 400, "error_type": "invalid_request", "public_model": "gpt-test"}
    assert r.status_code == want["status"], r.text
    return r.headers["x-request-id"], want


KINDS = ["openai", "openai-stream", "anthropic-stream", "unknown-model", "refused", "invalid"]


async def _load(url: str, n: int) -> list[tuple[str, dict[str, Any]]]:
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=50)) as client:
        return await asyncio.gather(*(_one(client, KINDS[i % len(KINDS)], i) for i in range(n)))


def test_one_row_per_request_under_concurrency(up: FakeUpstream, tmp_path: Path, database: str) -> None:
    config = {"database": database, "models": standard_models(up)}
    n = 120
    with GatewayProcess(tmp_path, config, env=KEY_ENV) as gw:
        results = asyncio.run(_load(gw.url, n))
        assert gw.stop() == 0
    rows = _rows(database)
    assert len(rows) == n == len({rid for rid, _ in results})
    for rid, want in results:
        row = rows[rid]
        for key, value in want.items():
            assert row[key] == value, (rid, key, row)
        assert row["latency_ms"] > 0
        if row["status"] == 200:
            assert row["ttft_ms"] is not None and 0 < row["ttft_ms"] <= row["latency_ms"]
            assert row["cost_usd"] == pytest.approx(
                (row["input_tokens"] * 2.0 + row["output_tokens"] * 10.0) / 1e6
            )
            assert row["answer"].startswith("Echo: ") and "w0" in row["prompt"]


def test_nul_characters_cost_no_row(up: FakeUpstream, tmp_path: Path, database: str) -> None:
    """JSON may carry U+0000, which PostgreSQL's text columns refuse: the row is still written
    (there with U+FFFD in its place), and so is feedback and a battle that carry one."""
    config = {"database": database, "models": standard_models(up), "log_content": True}
    with GatewayProcess(tmp_path, config, env=KEY_ENV) as gw, httpx.Client(base_url=gw.url, timeout=20) as c:
        chat = {"model": "gpt-test", "user": "u\u0000", "messages": [{"role": "user", "content": "a\u0000b"}]}
        r = c.post("/v1/chat/completions", json=chat)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "Echo: a\u0000b"
        rid = r.headers["x-request-id"]
        streamed = c.post("/v1/messages", json={"model": "claude-test", "max_tokens": 9, "stream": True,
                                                "messages": [{"role": "user", "content": "\u0000"}]})  # fmt: skip
        assert streamed.status_code == 200
        fb = c.post(
            "/v1/feedback",
            json={"request_id": rid, "rating": "up", "comment": "c\u0000", "category": "\u0000"},
        )
        assert fb.status_code == 200, fb.text
        battle = c.post(
            "/v1/arena/battles", json={"prompt": "p\u0000", "user": "v\u0000", "category": "k\u0000"}
        )
        assert battle.status_code == 200, battle.text
        assert gw.stop() == 0
    kept = "\ufffd" if database.startswith("postgresql") else "\u0000"
    usage = _rows(database)
    assert len(usage) == 2 and usage[rid]["user"] == f"u{kept}" and usage[rid]["answer"] == f"Echo: a{kept}b"
    (feedback,) = rows(database, "feedback")
    assert feedback["comment"] == f"c{kept}"
    assert [b["user"] for b in rows(database, "battles")] == [f"v{kept}"]


def test_sigterm_mid_load_loses_no_row(up: FakeUpstream, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'usage.db'}"
    n = 40
    for _ in range(n):  # every stream takes ~1 s, so SIGTERM lands while all are in flight
        up.push(Reply(text=" ".join(["tok"] * 10), chunk_delay=0.1))
    with GatewayProcess(tmp_path, {"database": database, "models": standard_models(up)}, env=KEY_ENV) as gw:

        async def run() -> list[str]:
            async with httpx.AsyncClient(
                base_url=gw.url, timeout=30, limits=httpx.Limits(max_connections=n)
            ) as c:

                async def one() -> str:
                    r = await c.post(
                        "/v1/chat/completions",
                        json={
                            "model": "gpt-test",
                            "stream": True,
                            "messages": [{"role": "user", "content": "x"}],
                        },
                    )
                    assert r.text.endswith("data: [DONE]\n\n")  # graceful: in-flight streams finish
                    return r.headers["x-request-id"]

                tasks = [asyncio.create_task(one()) for _ in range(n)]
                while up.calls < n:
                    await asyncio.sleep(0.02)
                assert gw.proc is not None
                gw.proc.send_signal(signal.SIGTERM)
                return await asyncio.gather(*tasks)

        started = time.monotonic()
        ids = asyncio.run(run())
        assert gw.stop() == 0 and time.monotonic() - started < 30
    rows = _rows(database)
    assert set(rows) == set(ids) and len(ids) == n
    assert all(
        r["status"] == 200 and r["error_type"] is None and r["output_tokens"] == 10 for r in rows.values()
    )


def test_client_disconnect_mid_stream_closes_upstream_and_is_logged(up: FakeUpstream, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'usage.db'}"
    up.push(Reply(text=" ".join(["tok"] * 50), chunk_delay=0.1))
    with GatewayProcess(tmp_path, {"database": database, "models": standard_models(up)}, env=KEY_ENV) as gw:
        body = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        with httpx.stream("POST", gw.openai_base + "/chat/completions", json=body, timeout=10) as r:
            request_id = r.headers["x-request-id"]
            chunks = r.iter_bytes()
            next(chunks), next(chunks)
        deadline = time.monotonic() + 5
        while up.disconnects == 0 and time.monotonic() < deadline:  # the gateway hangs up on the upstream too
            time.sleep(0.05)
        assert up.disconnects == 1
        assert gw.stop() == 0
    row = _rows(database)[request_id]
    assert row["status"] == 200 and row["error_type"] == "client_disconnected"
    assert row["output_tokens"] == 0 and row["answer"].startswith("tok")  # what the client got before it left
