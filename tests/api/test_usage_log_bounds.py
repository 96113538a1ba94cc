"""What a client's long strings cost: a short error that quotes only the start of them, a usage
row with bounded strings and content; a row the database refuses never stops the usage log, and
/ready says when the log keeps failing. On SQLite and PostgreSQL, against the real gateway."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import KEY_ENV, standard_models
from tests.fakes.upstream import FakeUpstream, Reply
from tests.support.databases import postgres_schema, rows, sa_url
from tests.support.gateway import GatewayProcess

USER = [{"role": "user", "content": "hello"}]
CONTENT_MAX = 1000


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'usage.db'}"
        return
    with postgres_schema() as url:
        yield url


def _usage(url: str) -> dict[str, dict[str, Any]]:
    return {r["request_id"]: r for r in rows(url, "usage")}


def test_long_client_strings_are_cut_in_answers_and_in_the_log(
    up: FakeUpstream, tmp_path: Path, database: str
) -> None:
    config = {
        "database": database,
        "models": standard_models(up),
        "log_content": True,
        "log_content_max_bytes": CONTENT_MAX,
    }
    # 8,000 characters that do not compress: over PostgreSQL's btree limit in the model index.
    long_model = os.urandom(4000).hex()
    huge_model = "m" * 1_000_000
    prompt, answer = "é" * 5000, "a" * 200_000
    up.push(Reply(text=answer))
    with GatewayProcess(tmp_path, config, env=KEY_ENV) as gw, httpx.Client(base_url=gw.url, timeout=30) as c:
        long = c.post("/v1/chat/completions", json={"model": long_model, "messages": USER})
        huge = c.post("/v1/messages", json={"model": huge_model, "max_tokens": 5, "messages": USER})
        for r, model in ((long, long_model), (huge, huge_model)):
            assert r.status_code == 404 and len(r.content) < 1000, r.text[:300]
            assert repr(model[:100]) in r.text and f"({len(model)} chars)" in r.text
        ok = c.post(
            "/v1/chat/completions",
            json={
                "model": "gpt-test",
                "user": "u" * 10_000,
                "messages": [{"role": "user", "content": prompt}],
            },
        )
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == answer
        after = c.post("/v1/chat/completions", json={"model": "claude-test", "messages": USER})
        assert after.status_code == 200
        assert gw.stop() == 0
    usage = _usage(database)
    ids = [r.headers["x-request-id"] for r in (long, huge, ok, after)]
    assert set(usage) == set(ids)  # the long model's row stopped nothing
    assert usage[ids[0]]["public_model"] == long_model[:256]
    assert usage[ids[1]]["public_model"] == huge_model[:256]
    row = usage[ids[2]]
    assert row["user"] == "u" * 256
    for stored, whole in ((row["prompt"], None), (row["answer"], answer)):
        assert CONTENT_MAX - 4 < len(stored.encode()) <= CONTENT_MAX + 100
        assert "truncated to 1000 bytes" in stored
        assert whole is None or stored.startswith(whole[:900])
    assert usage[ids[3]]["answer"] == "Echo: hello"


HUGE = "x" * 1_000_000


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/feedback", {HUGE: 1}),
        ("/v1/feedback", {"request_id": HUGE, "rating": "up"}),
        (
            "/v1/chat/completions",
            {"model": "gpt-test", "messages": [{"role": "user", "content": [{"type": HUGE}]}]},
        ),
    ],
    ids=["unknown-field", "feedback-id", "openai-part-type"],
)
def test_errors_quote_only_the_start_of_a_clients_value(
    gateway: GatewayProcess, path: str, body: dict[str, Any]
) -> None:
    r = httpx.post(gateway.url + path, json=body, timeout=30)
    assert r.status_code in (400, 404) and len(r.content) < 1000, r.text[:300]
    assert "x" * 100 in r.text and f"({len(HUGE)} chars)" in r.text


def test_ready_says_when_the_usage_log_keeps_failing(up: FakeUpstream, tmp_path: Path, database: str) -> None:
    engine = sa.create_engine(sa_url(database))

    def rename(old: str, new: str) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")

    config = {"database": database, "models": standard_models(up)}
    try:
        with (
            GatewayProcess(tmp_path, config, env=KEY_ENV) as gw,
            httpx.Client(base_url=gw.url, timeout=30) as c,
        ):
            assert c.get("/ready").status_code == 200
            # The usage table still takes writes (so the database looks writable), but each row's
            # upstream attempts have nowhere to go: every write of the log fails.
            rename("attempts", "attempts_away")
            try:
                r = c.post("/v1/chat/completions", json={"model": "gpt-test", "messages": USER})
                assert r.status_code == 200
                ready = _wait_for(c, 503)
                body = ready.json()
                assert body["status"] == "not_ready" and body["database"] == "writable"
                log = body["usage_log"]
                assert log["status"] == "failing" and log["pending"] == 1 and log["failed_writes"] >= 2
                assert log["failing_for_s"] >= 5 and (log["dropped"], log["rejected"]) == (0, 0)
            finally:
                rename("attempts_away", "attempts")
            assert _wait_for(c, 200).json()["usage_log"]["pending"] == 0
            assert gw.stop() == 0
    finally:
        engine.dispose()
    assert list(_usage(database)) == [r.headers["x-request-id"]]


def _wait_for(c: httpx.Client, status: int, timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = c.get("/ready")
        if r.status_code == status:
            return r
        assert time.monotonic() < deadline, r.text
        time.sleep(0.2)
