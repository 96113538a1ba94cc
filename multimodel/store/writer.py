"""The usage-log writer: the request path hands rows over in O(1) and a background
thread writes them in batches, so the database is never on the hot path.

Rows wait in memory (at most ``max_queue``, counting the batch being written) while
the database is slow or down, and are retried with backoff; only when that memory is
full are new rows dropped, and counted. A row the database refuses for its values (see
``db.row_error``) is never retried as it is: it is written again in a reduced form (short
strings, numbers in range, no content, a note in ``prompt``), so that each request still
leaves a row; when even that is refused it is counted as rejected, and logged.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import operator
import threading
import time
from collections import deque
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from multimodel.store.db import describe_error, row_error
from multimodel.store.tables import attempts, usage
from multimodel.store.usage import AttemptRow, UsageRow

log = logging.getLogger(__name__)

# The usage columns; a row's attempts go to their own table, in the same transaction.
FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UsageRow) if f.name != "attempts")
ATTEMPT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(AttemptRow))
_row_values = operator.attrgetter(*FIELDS)  # much faster than dataclasses.asdict
_attempt_values = operator.attrgetter(*ATTEMPT_FIELDS)

# One row's INSERT parameters: its usage row and its attempts.
Params = tuple[dict[str, Any], list[dict[str, Any]]]

LINGER_S = 0.05  # how long a small batch waits for company before it is written
BACKOFF_START_S = 0.05
BACKOFF_MAX_S = 5.0
_DROP_WARN_EVERY_S = 5.0
_ERROR_LOG_EVERY_S = 60.0
# A write that waits on a lock longer than this fails, gets logged and is retried.
_PG_LOCK_TIMEOUT = "10s"

# A refused row's reduced form: what is kept of each string, and the note in its `prompt`.
REDUCED_CHARS = 64
REDUCED_NOTE = "[usage log: the database refused this row; stored without content, values cut]"
_INT_RANGE = (-(2**31), 2**31 - 1)  # the Integer columns' (32 bits on PostgreSQL)


class UsageWriter:
    def __init__(self, engine: Engine, max_queue: int = 100_000, batch_size: int = 500) -> None:
        if max_queue < 1 or batch_size < 1:
            raise ValueError("max_queue and batch_size must be positive")
        self._engine = engine
        self._insert = _insert_statement(engine, usage, ["request_id"])
        self._insert_attempts = _insert_statement(engine, attempts, ["request_id", "n"])
        self._is_postgres = engine.dialect.name == "postgresql"
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._queue: deque[UsageRow] = deque()
        self._lock = threading.Lock()
        self._done = threading.Condition(self._lock)  # notified after each batch
        self._wake = threading.Event()  # rows arrived while the writer was idle
        self._closing = threading.Event()  # close() began: drain without lingering
        self._halt = threading.Event()  # close() ran out of time: stop even with rows left
        self._closed = False
        self._thread: threading.Thread | None = None
        self._held = 0  # accepted and not yet finished: queued plus the batch in flight
        self._finished = 0  # written + rejected, ever
        self._drops_reported = 0
        self._drops_logged_at = float("-inf")
        self.written = 0  # reduced rows included
        self.dropped = 0  # refused because the queue was full (or the writer closed)
        self.reduced = 0  # refused by the database as they were, written in reduced form; logged
        self.rejected = 0  # refused by the database even in reduced form, or not a UsageRow; logged
        self.failed_writes = 0  # attempts failed in a row by an outage (0 after a write)
        self._failing_since: float | None = None  # when the first of those began (monotonic)

    @property
    def pending(self) -> int:
        """Rows accepted but not yet written."""
        return self._held

    @property
    def failing_for(self) -> float:
        """Seconds since the writes began failing for an outage; 0 while the database answers."""
        since = self._failing_since
        return 0.0 if since is None else time.monotonic() - since

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="multimodel-usage-writer", daemon=True)
            self._thread.start()

    def submit(self, row: UsageRow) -> None:
        """Queue one row. Called on the event loop: no I/O, no logging, no raising."""
        with self._lock:
            if self._held >= self._max_queue or self._closed:
                self.dropped += 1
                return
            self._held += 1
            self._queue.append(row)
        if not self._wake.is_set():
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row submitted before this call is written (or rejected)."""
        deadline = time.monotonic() + timeout
        with self._done:
            target = self._finished + self._held
            while self._finished < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._alive():
                    return False
                # Wake now and then to notice a writer that has stopped.
                self._done.wait(min(remaining, 0.5))
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is pending (for at most ``timeout`` s), then stop the thread."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closed = True
        self._closing.set()
        self._wake.set()
        flushed = self.flush(timeout)
        self._halt.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self._report_drops(force=True)
        if not flushed and self._held:
            log.error(
                "usage log: %d rows were not written before shutdown (database unavailable)", self._held
            )

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # --- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        queue = self._queue
        while not self._halt.is_set():
            self._report_drops()
            if not queue:
                if self._closing.is_set():
                    return
                self._wake.clear()
                # Re-check after clear(): a row queued in between has set the event again.
                if not queue and not self._closing.is_set():
                    self._wake.wait()
                continue
            if len(queue) < self._batch_size and not self._closing.is_set():
                self._closing.wait(LINGER_S)
            batch = [queue.popleft() for _ in range(min(len(queue), self._batch_size))]
            try:
                self._write(batch)
            except Exception:  # a bug here must not kill the thread and silently stop logging
                log.exception("usage log writer: unexpected error; %d rows lost", len(batch))
                self._finish(len(batch), written=0, reduced=0, rejected=len(batch))
                self._halt.wait(1.0)

    def _write(self, batch: list[UsageRow]) -> None:
        params, rejected = _to_params(batch)
        written = reduced = 0
        delay = BACKOFF_START_S
        failures = 0
        logged_at = float("-inf")
        while params:
            e = self._attempt(params)
            if e is not None and row_error(e):
                # One bad row fails the whole INSERT: isolate it instead of retrying forever.
                ok, cut, bad, params, e = self._one_by_one(params)
                written += ok
                reduced += cut
                rejected += bad
                if e is None:
                    continue
            if e is not None:
                failures += 1
                now = time.monotonic()
                if now - logged_at >= _ERROR_LOG_EVERY_S:
                    logged_at = now
                    log.warning(
                        "usage log: database write failed (%s); %d rows held, retrying (attempt %d)",
                        describe_error(e),
                        self._held,
                        failures,
                    )
                if self._halt.wait(delay):
                    return  # close() gave up; the rows stay counted in pending
                delay = min(delay * 2, BACKOFF_MAX_S)
                self._report_drops()
                continue
            written += len(params)
            params = []
        if failures:
            log.info("usage log: database writes recovered after %d failed attempts", failures)
        self._finish(len(batch), written=written, reduced=reduced, rejected=rejected)

    def _attempt(self, params: list[Params]) -> Exception | None:
        """One INSERT of these rows; the error if it failed. Keeps the outage streak for /ready."""
        started = time.monotonic()
        try:
            self._execute(params)
        except Exception as e:
            if not row_error(e):
                self.failed_writes += 1
                if self._failing_since is None:
                    self._failing_since = started
                return e
            error: Exception | None = e
        else:
            error = None
        self.failed_writes, self._failing_since = 0, None  # the database answered
        return error

    def _execute(self, params: list[Params]) -> None:
        tried = [a for _, row_attempts in params for a in row_attempts]
        with self._engine.begin() as conn:
            if self._is_postgres:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_PG_LOCK_TIMEOUT}'")
            conn.execute(self._insert, [row for row, _ in params])
            if tried:
                conn.execute(self._insert_attempts, tried)

    def _one_by_one(self, params: list[Params]) -> tuple[int, int, int, list[Params], Exception | None]:
        """Write rows singly, a refused one again in reduced form; returns (written, of which
        reduced, rejected, rows still to write, the outage that stopped it)."""
        written = reduced = rejected = 0
        for i, p in enumerate(params):
            e = self._attempt([p])
            if e is not None and row_error(e):
                rid = p[0].get("request_id")
                log.error(
                    "usage log: the database refused the row of request %.64s (%s); storing it reduced",
                    rid,
                    describe_error(e),
                )
                p = _reduced(p)
                e = self._attempt([p])
                if e is None:
                    reduced += 1
                elif row_error(e):
                    rejected += 1
                    log.error(
                        "usage log: the database refused the row of request %.64s even reduced (%s); "
                        "it is lost",
                        rid,
                        describe_error(e),
                    )
                    continue
            if e is not None:  # an outage: the caller backs off and retries from this row
                return written, reduced, rejected, [p, *params[i + 1 :]], e
            written += 1
        return written, reduced, rejected, [], None

    def _finish(self, n: int, *, written: int, reduced: int, rejected: int) -> None:
        with self._done:
            self.written += written
            self.reduced += reduced
            self.rejected += rejected
            self._finished += n
            self._held -= n
            self._done.notify_all()

    def _report_drops(self, force: bool = False) -> None:
        # Logged from this thread, never from submit(): a log handler may block.
        dropped = self.dropped
        if dropped == self._drops_reported:
            return
        now = time.monotonic()
        if force or now - self._drops_logged_at >= _DROP_WARN_EVERY_S:
            log.warning(
                "usage log: queue full (%d rows), dropped %d rows (%d in total)",
                self._max_queue,
                dropped - self._drops_reported,
                dropped,
            )
            self._drops_reported = dropped
            self._drops_logged_at = now


def _insert_statement(engine: Engine, table: sa.Table, key: list[str]) -> Any:
    """INSERT that skips a key already stored, so retrying a batch whose commit
    was in doubt (connection lost during COMMIT) never duplicates or fails it."""
    name = engine.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=key)
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing(index_elements=key)
    return sa.insert(table)


def _params(r: UsageRow) -> Params:
    rid = r.request_id
    return dict(zip(FIELDS, _row_values(r), strict=True)), [
        {"request_id": rid, **dict(zip(ATTEMPT_FIELDS, _attempt_values(a), strict=True))} for a in r.attempts
    ]


def _reduced(p: Params) -> Params:
    """A refused row made as plain as it can be: strings cut short (and encodable), numbers in
    range, no prompt or answer but REDUCED_NOTE in the prompt column."""
    row, tried = p
    return (
        {k: _plain(v) for k, v in row.items()} | {"prompt": REDUCED_NOTE, "answer": None},
        [{k: _plain(v) for k, v in a.items()} for a in tried],
    )


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return min(max(v, _INT_RANGE[0]), _INT_RANGE[1])
    if isinstance(v, float):
        return v if math.isfinite(v) else 0.0
    text = v if isinstance(v, str) else type(v).__name__
    return text[:REDUCED_CHARS].encode("utf-8", "replace").decode()


def _to_params(batch: list[UsageRow]) -> tuple[list[Params], int]:
    """Rows as INSERT parameters, plus how many could not be read (not a UsageRow)."""
    try:
        return [_params(r) for r in batch], 0
    except Exception:
        params = []
        for r in batch:
            try:
                params.append(_params(r))
            except Exception:
                log.error(
                    "usage log: dropped a submitted object that is not a UsageRow (%s)", type(r).__name__
                )
        return params, len(batch) - len(params)
