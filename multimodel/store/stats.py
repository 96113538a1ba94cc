"""Usage-log statistics for the dashboard: requests, tokens, cost, errors and latency per model,
provider and time bucket over a time window.

Arena answers stay out until their battle is voted or closed: before the vote a change in cost
or tokens would name a side's model (cost ÷ tokens is its price; a cost of 0 names an unpriced
one), and so would a change in a model's or provider's row. Everyone's summary leaves them out,
admin keys' too: a summary is one view, an admin may vote as well, and the rows are all there
once the battles close (at most `max_battle_age_hours` later).

Counts and sums are aggregated in SQL (a few rows per bucket and model, whatever the traffic).
Latency percentiles are computed here from the newest successful rows of the window, at most
`sample_rows` of them, because SQLite has no percentile function; the answer says how many
rows they came from.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from multimodel.store.tables import battles, usage, votes

SAMPLE_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class Window:
    """`buckets` buckets of `bucket_s` seconds aligned to multiples of it (UTC), the last one holding `now`."""

    start: float
    end: float
    bucket_s: int
    buckets: int

    @classmethod
    def ending(cls, now: float, span_s: int, bucket_s: int) -> Window:
        buckets = max(1, span_s // bucket_s)
        last = math.floor(now / bucket_s) * bucket_s
        return cls(float(last - (buckets - 1) * bucket_s), now, bucket_s, buckets)


def _bucket(engine: Engine, window: Window) -> Any:
    """The bucket index of a row as SQL. Rows are at or after the start, so the offset is never
    negative and SQLite's CAST (which truncates) is a floor; PostgreSQL's CAST would round."""
    offset = (usage.c.created_at - window.start) / window.bucket_s
    if engine.dialect.name == "sqlite":
        return sa.cast(offset, sa.Integer)
    return sa.cast(sa.func.floor(offset), sa.Integer)


def summary(
    engine: Engine,
    window: Window,
    sample_rows: int = SAMPLE_ROWS,
    key_id: str | None = None,
    battle_age_s: float = 86_400.0,
) -> dict[str, Any]:
    """The window's usage; only one API key's requests when `key_id` is given. Arena answers of
    battles that may still take a vote (`battle_age_s`: how long a battle does) are left out."""
    bucket = _bucket(engine, window).label("bucket")
    model, provider = usage.c.public_model, usage.c.provider
    in_window = (usage.c.created_at >= window.start) & (usage.c.created_at <= window.end)
    in_window &= _settled(window.end - battle_age_s)
    if key_id is not None:
        in_window &= usage.c.key_id == key_id
    failed = usage.c.error_type.is_not(None)
    grouped = (
        sa.select(
            bucket,
            model,
            provider,
            sa.func.count().label("requests"),
            sa.func.sum(sa.case((failed, 1), else_=0)).label("errors"),
            sa.func.sum(usage.c.input_tokens).label("input_tokens"),
            sa.func.sum(usage.c.output_tokens).label("output_tokens"),
            sa.func.sum(usage.c.cache_read_tokens).label("cache_read_tokens"),
            sa.func.sum(usage.c.cache_write_tokens).label("cache_write_tokens"),
            sa.func.sum(usage.c.reasoning_tokens).label("reasoning_tokens"),
            sa.func.sum(usage.c.cost_usd).label("cost_usd"),
        )
        .where(in_window)
        .group_by(bucket, model, provider)
    )
    errors = (
        sa.select(usage.c.error_type, sa.func.count().label("count"))
        .where(in_window, failed)
        .group_by(usage.c.error_type)
        .order_by(sa.desc("count"), usage.c.error_type)
    )
    timings = (
        sa.select(bucket, model, provider, usage.c.latency_ms, usage.c.ttft_ms)
        .where(in_window, ~failed)
        .order_by(usage.c.created_at.desc())
        .limit(sample_rows)
    )
    with engine.connect() as conn:
        cells = [dict(r) for r in conn.execute(grouped).mappings()]
        error_rows = [{"type": t, "count": int(n)} for t, n in conn.execute(errors)]
        samples = conn.execute(timings).all()
    for cell in cells:  # SUM of nothing is NULL, and PostgreSQL sums integers as NUMERIC
        for key in _COUNTS:
            cell[key] = int(cell[key] or 0)
        cell["cost_usd"] = float(cell["cost_usd"] or 0.0)
    return {
        "start": window.start,
        "end": window.end,
        "bucket_seconds": window.bucket_s,
        "totals": _totals(cells),
        "models": _groups(cells, samples, ("public_model", "provider"), ("model", "provider")),
        "providers": _groups(cells, samples, ("provider",), ("provider",)),
        "buckets": _buckets(cells, samples, window),
        "errors": error_rows,
        "latency_sample": len(samples),
    }


def _settled(closed_before: float) -> sa.ColumnElement[bool]:
    """The rows that cannot name an arena battle's models before its vote: every row but an
    arena answer, an arena answer whose battle has a vote, and one made before `closed_before`
    (its battle, created earlier still, takes no vote any more). An answer whose stream failed
    before it began is no side's answer: it waits for the time. The index on each request
    column makes the EXISTS a lookup, made for recent arena answers only."""

    def voted(side: sa.Column[Any]) -> sa.Exists:
        return sa.exists().where(side == usage.c.request_id, votes.c.battle_id == battles.c.id)

    return (
        (usage.c.endpoint != "arena")
        | (usage.c.created_at < closed_before)
        | voted(battles.c.request_a)
        | voted(battles.c.request_b)
    )


_COUNTS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
_SUMS = (*_COUNTS, "cost_usd")


def _totals(cells: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The sums of `cells`, and their cache-hit share: the part of the input tokens read from
    the providers' prompt caches (None without input)."""
    total: dict[str, Any] = dict.fromkeys(_SUMS, 0)
    total["cost_usd"] = 0.0
    for cell in cells:
        for key in _SUMS:
            total[key] += cell[key]
    total["cache_hit_share"] = (
        total["cache_read_tokens"] / total["input_tokens"] if total["input_tokens"] else None
    )
    return total


def _percentiles(values: Sequence[float | None]) -> dict[str, float | None]:
    """p50 and p95 of the values that are not None (linear interpolation), None when there are none."""
    known = np.array([v for v in values if v is not None], dtype=np.float64)
    if not len(known):
        return {"p50": None, "p95": None}
    p50, p95 = np.percentile(known, [50, 95])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1)}


def _timing(rows: Sequence[Any]) -> dict[str, Any]:
    latency, ttft = _percentiles([r.latency_ms for r in rows]), _percentiles([r.ttft_ms for r in rows])
    return {
        "latency_p50_ms": latency["p50"],
        "latency_p95_ms": latency["p95"],
        "ttft_p50_ms": ttft["p50"],
        "ttft_p95_ms": ttft["p95"],
    }


def _groups(
    cells: Sequence[dict[str, Any]], samples: Sequence[Any], columns: tuple[str, ...], names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Totals and timings per distinct value of `columns` (shown as `names`), busiest first."""
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        by_key[tuple(cell[c] for c in columns)].append(cell)
    timed: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for row in samples:
        timed[tuple(getattr(row, c) for c in columns)].append(row)
    out = [
        {**dict(zip(names, key, strict=True)), **_totals(group), **_timing(timed.get(key, []))}
        for key, group in by_key.items()
    ]
    return sorted(out, key=lambda g: (-g["requests"], [str(g[n]) for n in names]))


def _buckets(cells: Sequence[dict[str, Any]], samples: Sequence[Any], window: Window) -> list[dict[str, Any]]:
    """Every bucket of the window, empty ones included, with its totals per model."""
    out: list[dict[str, Any]] = []
    per_bucket: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:
        per_bucket[int(cell["bucket"])].append(cell)
    timed: dict[int, list[Any]] = defaultdict(list)
    for row in samples:
        timed[int(row.bucket)].append(row)
    for k in range(window.buckets):
        group = per_bucket.get(k, [])
        per_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for cell in group:
            per_model[cell["public_model"]].append(cell)
        models = {name: _totals(cells) for name, cells in per_model.items()}
        out.append(
            {
                "start": window.start + k * window.bucket_s,
                **_totals(group),
                **_timing(timed.get(k, [])),
                "models": models,
            }
        )
    return out
