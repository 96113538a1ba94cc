"""The batched usage writer against real SQLite and PostgreSQL, including real outages."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator

import pytest

from multimodel.store import UsageRow, UsageWriter
from multimodel.store.queries import count_rows, fetch_rows
from multimodel.store.writer import FIELDS, REDUCED_CHARS, REDUCED_NOTE

from .conftest import Db

pytestmark = pytest.mark.timeout(60)


def make_row(i: int, prefix: str = "req") -> UsageRow:
    return UsageRow(
        request_id=f"{prefix}-{i:06d}",
        created_at=1_700_000_000.0 + i / 1000,
        api_format="openai" if i % 2 else "anthropic",
        endpoint="chat",
        public_model=f"model-{i % 3}",
        provider="openai" if i % 5 else None,
        upstream_model="gpt-x" if i % 5 else None,
        stream=bool(i % 2),
        status=200 if i % 7 else 502,
        error_type=None if i % 7 else "upstream",
        latency_ms=12.5 + i,
        ttft_ms=3.25 if i % 2 else None,
        input_tokens=i,
        output_tokens=2 * i + 1,
        cost_usd=i * 1e-6 if i % 4 else None,
        user="alice" if i % 2 else None,
        prompt=f'[{{"role": "user", "content": "question {i} ☃"}}]',
        answer=f"answer {i}" if i % 3 else None,
    )


@pytest.fixture
def writer(db: Db) -> Iterator[UsageWriter]:
    w = UsageWriter(db.engine)
    w.start()
    yield w
    w.close(timeout=5)


def test_rows_written_from_many_threads_arrive_once_and_intact(db: Db, writer: UsageWriter) -> None:
    threads, per_thread = 8, 500
    submitted = [[make_row(t * per_thread + i) for i in range(per_thread)] for t in range(threads)]

    def submit_all(rows: list[UsageRow]) -> None:
        for r in rows:
            writer.submit(r)

    workers = [threading.Thread(target=submit_all, args=(rows,)) for rows in submitted]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert writer.flush(timeout=20)

    n = threads * per_thread
    assert (writer.written, writer.dropped, writer.pending) == (n, 0, 0)
    stored = fetch_rows(db.engine)
    assert len(stored) == n == count_rows(db.engine)
    assert sum(r["input_tokens"] for r in stored) == n * (n - 1) // 2
    assert sum(r["output_tokens"] for r in stored) == n * n
    by_id = {r["request_id"]: r for r in stored}
    for row in (make_row(i) for i in range(n)):
        assert {f: by_id[row.request_id][f] for f in FIELDS} == {f: getattr(row, f) for f in FIELDS}


def test_close_writes_everything_pending(db: Db) -> None:
    w = UsageWriter(db.engine)
    w.start()
    for i in range(1234):
        w.submit(make_row(i))
    w.close(timeout=10)
    assert count_rows(db.engine) == 1234
    assert w.pending == 0
    w.submit(make_row(9999))  # after close: refused and counted, not raised
    assert w.dropped == 1


def test_rows_queued_before_start_are_written(db: Db) -> None:
    w = UsageWriter(db.engine)
    w.submit(make_row(1))
    assert not w.flush(timeout=0.1)  # nobody to write it yet
    w.start()
    assert w.flush(timeout=5)
    w.close()
    assert count_rows(db.engine) == 1


@pytest.mark.parametrize("outage", ["locked", "renamed"])
def test_an_outage_neither_blocks_submit_nor_loses_rows(db: Db, writer: UsageWriter, outage: str) -> None:
    writer.submit(make_row(0))
    assert writer.flush(timeout=5)
    n = 2000
    with db.outage(outage):
        slowest = 0.0
        gc.disable()  # a full collection of the earlier tests' garbage is not the writer blocking
        try:
            for i in range(1, n + 1):
                row = make_row(i)
                t = time.perf_counter()
                writer.submit(row)
                slowest = max(slowest, time.perf_counter() - t)
                if i % 500 == 0:
                    time.sleep(0.1)  # let the writer try, and fail, a few times
        finally:
            gc.enable()
        # The only pause allowed is the GIL handing over to the writer thread (5 ms switch interval).
        assert slowest < 0.05, f"submit took {slowest * 1000:.1f} ms during the outage"
        assert not writer.flush(timeout=0.2)
        assert writer.pending > 0
    assert writer.flush(timeout=15)
    assert (writer.written, writer.dropped, writer.pending) == (n + 1, 0, 0)
    assert count_rows(db.engine) == n + 1


def test_a_full_queue_drops_and_counts_only_the_overflow(db: Db) -> None:
    w = UsageWriter(db.engine, max_queue=50, batch_size=20)
    w.start()
    try:
        with db.outage("locked"):
            for i in range(80):
                w.submit(make_row(i))
            assert (w.dropped, w.pending) == (30, 50)
        assert w.flush(timeout=15)
        assert (w.written, w.dropped, w.pending) == (50, 30, 0)
        # The rows kept are the first 50: a full queue refuses new rows, it does not evict old ones.
        assert [r["request_id"] for r in fetch_rows(db.engine)] == [make_row(i).request_id for i in range(50)]
    finally:
        w.close(timeout=5)


def test_a_row_the_database_refuses_is_dropped_alone(db: Db, writer: UsageWriter) -> None:
    bad = make_row(5)
    bad.request_id = None  # type: ignore[assignment]  # NOT NULL: fails the whole INSERT
    for i in range(10):
        writer.submit(bad if i == 5 else make_row(i))
    assert writer.flush(timeout=10)
    assert (writer.written, writer.rejected) == (9, 1)
    assert count_rows(db.engine) == 9
    writer.submit(make_row(100))  # and the writer carries on
    assert writer.flush(timeout=5) and count_rows(db.engine) == 10


# Values each backend refuses for a row's content (none of them is an outage to wait out).
REFUSED = {
    "a number over 32 bits": ("output_tokens", 2**70),
    "a lone surrogate": ("user", "alice \udc00"),
    # 8,000 characters that do not compress: over PostgreSQL's btree entry limit (SQLite has none).
    "an index entry too big": ("public_model", os.urandom(4000).hex()),
}


@pytest.mark.parametrize("refusal", REFUSED)
def test_a_refused_row_costs_only_its_content(db: Db, writer: UsageWriter, refusal: str) -> None:
    field, value = REFUSED[refusal]
    bad = make_row(5)
    setattr(bad, field, value)
    for i in range(10):
        writer.submit(bad if i == 5 else make_row(i))
    assert writer.flush(timeout=10)
    stored = {r["request_id"]: r for r in fetch_rows(db.engine)}
    assert len(stored) == 10 and (writer.written, writer.rejected) == (10, 0)
    for i in (0, 1, 2, 3, 4, 6, 7, 8, 9):  # the rest of the batch as it was
        row = make_row(i)
        assert {f: stored[row.request_id][f] for f in FIELDS} == {f: getattr(row, f) for f in FIELDS}
    kept = stored[bad.request_id]
    if refusal == "an index entry too big" and db.backend == "sqlite":
        assert kept["public_model"] == value and writer.reduced == 0
    else:  # the request still has its row: its numbers, cut strings, a note instead of content
        assert writer.reduced == 1
        assert (kept["prompt"], kept["answer"]) == (REDUCED_NOTE, None)
        assert (kept["status"], kept["input_tokens"], kept["latency_ms"]) == (200, 5, bad.latency_ms)
        assert kept["public_model"] == bad.public_model[:REDUCED_CHARS]
        assert kept["output_tokens"] == (2**31 - 1 if field == "output_tokens" else bad.output_tokens)
        assert kept["user"] == ("alice ?" if field == "user" else "alice")
    writer.submit(make_row(100))  # and the writer carries on
    assert writer.flush(timeout=5) and count_rows(db.engine) == 11


def test_the_writer_says_how_long_its_writes_have_failed(db: Db, writer: UsageWriter) -> None:
    assert (writer.failing_for, writer.failed_writes) == (0.0, 0)
    with db.outage("renamed"):
        writer.submit(make_row(1))
        deadline = time.monotonic() + 10
        while writer.failed_writes < 3:
            assert time.monotonic() < deadline, "the writer did not retry"
            time.sleep(0.05)
        assert writer.failing_for > 0 and writer.pending == 1
    assert writer.flush(timeout=15)
    assert (writer.failing_for, writer.failed_writes, writer.written) == (0.0, 0, 1)


def test_a_repeated_request_id_is_stored_once(db: Db, writer: UsageWriter) -> None:
    # A batch retried after a commit whose outcome was unknown must not fail or duplicate.
    writer.submit(make_row(1))
    assert writer.flush(timeout=5)
    writer.submit(make_row(1))
    writer.submit(make_row(2))
    assert writer.flush(timeout=5)
    assert [r["request_id"] for r in fetch_rows(db.engine)] == ["req-000001", "req-000002"]


def test_close_gives_up_after_its_timeout_while_the_database_is_down(db: Db) -> None:
    w = UsageWriter(db.engine)
    w.start()
    with db.outage("renamed"):
        w.submit(make_row(1))
        t = time.monotonic()
        w.close(timeout=0.5)
        assert time.monotonic() - t < 2
        assert w.pending == 1
    assert count_rows(db.engine) == 0


def test_fetch_rows_filters_on_columns(db: Db, writer: UsageWriter) -> None:
    for i in range(12):
        writer.submit(make_row(i))
    assert writer.flush(timeout=5)
    assert [r["input_tokens"] for r in fetch_rows(db.engine, public_model="model-1", user="alice")] == [1, 7]
    with pytest.raises(ValueError, match="no such usage column"):
        fetch_rows(db.engine, colour="red")
