"""The usage summary's SQL on both backends: rows fall into the right buckets, sums and error
counts are exact, percentiles come from successful rows only, and the sample is bounded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from multimodel.store import make_engine, upgrade
from multimodel.store.stats import Window, summary
from multimodel.store.tables import battles, usage, votes
from tests.support.databases import postgres_schema

NOW = 1_800_000_123.0
WINDOW = Window.ending(NOW, 3600, 300)  # 12 buckets of 5 minutes


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        e = make_engine(f"sqlite:///{tmp_path / 'stats.db'}")
        upgrade(e)
        yield e
        e.dispose()
        return
    with postgres_schema() as url:
        e = make_engine(url)
        upgrade(e)
        yield e
        e.dispose()


NO_DETAILS = {"cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0}


def row(n: int, at: float, model: str = "m1", **over: Any) -> dict[str, Any]:
    return {
        "request_id": f"req_{n}",
        "created_at": at,
        "api_format": "openai",
        "endpoint": "chat",
        "public_model": model,
        "provider": "openai",
        "stream": True,
        "status": 200,
        "error_type": None,
        "latency_ms": 100.0 * n,
        "ttft_ms": 10.0 * n,
        "input_tokens": n,
        "output_tokens": 2 * n,
        "cost_usd": 0.5 * n,
        **NO_DETAILS,
        **over,
    }


def insert(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as c:
        c.execute(sa.insert(usage), rows)


def test_the_window_ends_with_the_bucket_that_holds_now() -> None:
    assert WINDOW.buckets == 12 and WINDOW.start % 300 == 0
    assert WINDOW.start + 11 * 300 <= NOW < WINDOW.start + 12 * 300


def test_sums_buckets_errors_and_percentiles(engine: Engine) -> None:
    start = WINDOW.start
    rows = [
        row(1, start - 0.001),  # before the window: not counted
        row(2, start),  # the first bucket's first instant
        row(3, start + 299.9),
        row(4, start + 300, model="m2", provider="anthropic", ttft_ms=None),
        row(5, NOW - 1),
        row(6, NOW - 1, status=429, error_type="rate_limit", latency_ms=1.0, cost_usd=None),
        row(7, NOW - 2, status=502, error_type="upstream", model="m2", provider="anthropic"),
        row(8, NOW - 3, status=502, error_type="upstream", model="m2", provider="anthropic"),
    ]
    insert(engine, rows)
    s = summary(engine, WINDOW)

    assert s["totals"] == {
        "requests": 7,
        "errors": 3,
        "input_tokens": 2 + 3 + 4 + 5 + 6 + 7 + 8,
        "output_tokens": 2 * 35,
        **NO_DETAILS,
        "cost_usd": 0.5 * (35 - 6),
        "cache_hit_share": 0.0,
    }
    counts = [b["requests"] for b in s["buckets"]]
    assert counts == [2, 1] + [0] * 9 + [4]
    assert s["buckets"][0]["models"] == {
        "m1": {
            "requests": 2,
            "errors": 0,
            "input_tokens": 5,
            "output_tokens": 10,
            **NO_DETAILS,
            "cost_usd": 2.5,
            "cache_hit_share": 0.0,
        }
    }
    assert [b["start"] for b in s["buckets"]] == [start + 300 * k for k in range(12)]
    assert s["errors"] == [{"type": "upstream", "count": 2}, {"type": "rate_limit", "count": 1}]

    by_model = {m["model"]: m for m in s["models"]}
    assert [m["model"] for m in s["models"]] == ["m1", "m2"]  # busiest first
    m1 = by_model["m1"]
    assert (m1["requests"], m1["errors"], m1["provider"]) == (4, 1, "openai")
    ok_latency = [200.0, 300.0, 500.0]  # successful m1 rows only: the 429 is not a fast answer
    assert m1["latency_p50_ms"] == pytest.approx(np.percentile(ok_latency, 50))
    assert m1["latency_p95_ms"] == pytest.approx(np.percentile(ok_latency, 95), abs=0.05)
    assert m1["ttft_p50_ms"] == pytest.approx(30.0)
    assert by_model["m2"]["ttft_p50_ms"] is None  # its only success has no ttft
    assert {p["provider"]: p["requests"] for p in s["providers"]} == {"openai": 4, "anthropic": 3}
    assert s["buckets"][5]["latency_p50_ms"] is None and s["latency_sample"] == 4


def test_cache_and_reasoning_tokens_and_the_cache_hit_share(engine: Engine) -> None:
    insert(
        engine,
        [
            row(1, NOW - 10, input_tokens=100, cache_read_tokens=60, cache_write_tokens=30),
            row(2, NOW - 10, input_tokens=100, cache_read_tokens=20, reasoning_tokens=3),
            row(3, NOW - 2000, "m2", input_tokens=50, cache_write_tokens=50, provider="anthropic"),
            row(4, NOW - 10, "m3", input_tokens=0, output_tokens=0, status=502, error_type="upstream"),
        ],
    )
    s = summary(engine, WINDOW)
    by_model = {m["model"]: m for m in s["models"]}
    m1 = by_model["m1"]
    assert (m1["cache_read_tokens"], m1["cache_write_tokens"], m1["reasoning_tokens"]) == (80, 30, 3)
    assert m1["cache_hit_share"] == pytest.approx(80 / 200)
    assert by_model["m2"]["cache_hit_share"] == 0.0  # written to the cache, never read from it
    assert by_model["m3"]["cache_hit_share"] is None  # no input, no share
    assert s["totals"]["cache_hit_share"] == pytest.approx(80 / 250)
    assert {p["provider"]: p["cache_write_tokens"] for p in s["providers"]} == {"openai": 30, "anthropic": 50}
    last = s["buckets"][-1]
    assert last["cache_read_tokens"] == 80 and last["models"]["m1"]["cache_hit_share"] == pytest.approx(0.4)
    assert s["buckets"][0]["cache_hit_share"] is None  # an empty bucket


def test_the_timing_sample_is_the_newest_rows(engine: Engine) -> None:
    insert(engine, [row(n, NOW - 100 + n) for n in range(1, 11)])
    s = summary(engine, WINDOW, sample_rows=3)
    assert s["latency_sample"] == 3
    assert s["models"][0]["latency_p50_ms"] == 900.0  # of rows 8, 9 and 10
    assert s["totals"]["requests"] == 10  # the sums still count every row


def test_an_empty_log(engine: Engine) -> None:
    s = summary(engine, WINDOW)
    assert s["totals"]["requests"] == 0 and s["models"] == [] and s["errors"] == []
    assert len(s["buckets"]) == 12 and all(b["latency_p50_ms"] is None for b in s["buckets"])


def test_arena_answers_wait_for_their_battles_vote(engine: Engine) -> None:
    """Before the vote, an arena answer's cost and tokens would name its model (cost ÷ tokens is
    its price): it shows once its battle has a vote, or once it is older than a battle lives."""
    age = 1800.0
    insert(
        engine,
        [
            row(1, NOW - 10),  # a chat answer
            row(2, NOW - 10, "m1", endpoint="arena"),  # side a of an open battle
            # A try that failed before its answer began: released, no side's answer.
            row(3, NOW - 10, "m2", endpoint="arena", status=502, error_type="upstream"),
            row(4, NOW - 20, "m1", endpoint="arena"),  # the two sides of a voted battle
            row(5, NOW - 20, "m2", endpoint="arena", provider="anthropic"),
            row(6, NOW - age - 1, "m2", endpoint="arena", provider="anthropic"),  # a closed battle's
        ],
    )
    with engine.begin() as c:
        battle = {"model_a": "m1", "model_b": "m2", "prompt": "[]", "request_b": None}
        c.execute(
            sa.insert(battles),
            [
                {**battle, "id": "bat_open", "created_at": NOW - 30, "request_a": "req_2"},
                {
                    **battle,
                    "id": "bat_voted",
                    "created_at": NOW - 30,
                    "request_a": "req_4",
                    "request_b": "req_5",
                },
                {**battle, "id": "bat_closed", "created_at": NOW - age - 2, "request_a": "req_6"},
            ],
        )
        c.execute(sa.insert(votes).values(battle_id="bat_voted", winner="tie", created_at=NOW - 5))

    got = summary(engine, WINDOW, battle_age_s=age)
    assert got["totals"] == {
        "requests": 4,
        "errors": 0,
        "input_tokens": 1 + 4 + 5 + 6,
        "output_tokens": 2 * 16,
        **NO_DETAILS,
        "cost_usd": 0.5 * 16,
        "cache_hit_share": 0.0,
    }
    assert {(m["model"], m["provider"]): m["requests"] for m in got["models"]} == {
        ("m1", "openai"): 2,
        ("m2", "anthropic"): 2,
    }
    assert {p["provider"]: p["requests"] for p in got["providers"]} == {"openai": 2, "anthropic": 2}
    assert sum(b["requests"] for b in got["buckets"]) == 4 and got["errors"] == []
    assert got["latency_sample"] == 4
    # A battle lives a day by default: the closed one's answer still waits.
    assert summary(engine, WINDOW)["totals"]["requests"] == 3

    with engine.begin() as c:
        c.execute(sa.insert(votes).values(battle_id="bat_open", winner="model_a", created_at=NOW))
    assert summary(engine, WINDOW, battle_age_s=age)["totals"]["requests"] == 5
