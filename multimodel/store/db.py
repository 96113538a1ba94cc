"""Engines and migrations for the usage database (SQLite or PostgreSQL)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
# Readiness must answer fast even when a writer holds the lock.
_READY_TIMEOUT_MS = 500
# Any constant works; it only has to be the same in every replica migrating at once.
_MIGRATION_LOCK_KEY = 0x6D6D5F7573616765  # "mm_usage"


def normalize_url(url: str) -> str:
    """Pick our drivers: plain ``postgresql://`` (or ``postgres://``) means psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(
    url: str, *, sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **engine_kwargs: Any
) -> Engine:
    """An engine tuned for a steady stream of small batched writes.

    ``engine_kwargs`` go to ``sqlalchemy.create_engine`` (for instance
    ``connect_args={"options": "-csearch_path=myschema"}`` on PostgreSQL).
    """
    sa_url = make_url(normalize_url(url))
    # Keep prompts and answers out of exception messages and therefore out of logs.
    engine_kwargs.setdefault("hide_parameters", True)
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(sa_url, **engine_kwargs)
        _sqlite_pragmas(engine, sqlite_busy_timeout_ms)
        return engine
    engine_kwargs.setdefault("pool_pre_ping", True)
    # Without it an unreachable host hangs a connect (and /ready) for minutes.
    engine_kwargs["connect_args"] = {"connect_timeout": 10, **engine_kwargs.get("connect_args", {})}
    return sa.create_engine(sa_url, **engine_kwargs)


def _sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        # busy_timeout first: switching to WAL needs a lock another process may hold.
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # WAL lets readers (dashboards, /ready) run while the writer writes; NORMAL is
        # durable against process crashes, which is what a usage log needs.
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()


def alembic_config(url: str | None = None) -> Config:
    """The alembic config, built in code: no alembic.ini to ship or find."""
    cfg = Config()
    # configparser interpolation: a literal % in a path must be doubled.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url_or_engine: str | Engine) -> None:
    """Run the migrations up to head. Safe to call at every start-up, and from several
    replicas at once on PostgreSQL (they serialise on an advisory lock)."""
    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        if engine is not url_or_engine:
            engine.dispose()


def check_writable(engine: Engine) -> str | None:
    """A cheap test that the usage table can take writes now; None if so, else why not."""
    try:
        if engine.dialect.name == "sqlite":
            _check_sqlite(engine)
        elif engine.dialect.name == "postgresql":
            _check_postgres(engine)
        else:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
    except Exception as e:
        return describe_error(e)
    return None


def _check_sqlite(engine: Engine) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT 1 FROM usage LIMIT 0")
        cur.execute("PRAGMA busy_timeout")
        busy_timeout_ms = (cur.fetchone() or (SQLITE_BUSY_TIMEOUT_MS,))[0]
        cur.execute(f"PRAGMA busy_timeout = {_READY_TIMEOUT_MS}")
        try:
            # Takes the write lock without writing: fails if the file is read-only or
            # another connection has held the lock longer than the timeout.
            cur.execute("BEGIN IMMEDIATE")
            cur.execute("ROLLBACK")
        finally:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cur.close()
    finally:
        raw.close()


def _check_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"SET LOCAL statement_timeout = {_READY_TIMEOUT_MS}"))
        standby, read_only, can_insert = conn.execute(
            sa.text(
                "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on',"
                " has_table_privilege('usage', 'INSERT')"
            )
        ).one()
    if standby or read_only:
        raise RuntimeError("the database is read-only (a standby, or default_transaction_read_only)")
    if not can_insert:
        raise RuntimeError("no INSERT privilege on table usage")


def describe_error(e: Exception) -> str:
    """One line about a database error, without SQL parameters (they may hold prompts)."""
    orig = getattr(e, "orig", None) or e
    first_line = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first_line[:300]}"


# PostgreSQL SQLSTATE classes caused by the values written: 21 cardinality, 22 data exception
# (a number out of range, a bad encoding), 23 integrity constraint, 54 program limit exceeded (an
# index entry over the btree limit); and 42804, a value of the wrong type. Every other class is
# the database's state, to wait out: 08 connection, 25 read-only, 40 serialization or deadlock,
# 42 a missing table or privilege, 53 disk or memory, 55 lock timeout, 57 shutdown or cancel.
_ROW_SQLSTATE_CLASSES = frozenset({"21", "22", "23", "54"})
_ROW_SQLSTATES = frozenset({"42804"})
# SQLite primary result codes caused by the values: TOOBIG, CONSTRAINT, MISMATCH. The others
# (BUSY, LOCKED, READONLY, IOERR, FULL, ERROR as in "no such table", ...) are the database's.
_ROW_SQLITE_CODES = frozenset({18, 19, 20})
# Raised by a driver refusing a value before the database sees it (a lone surrogate, an
# integer over 64 bits, a type it cannot send).
_BIND_ERRORS = (UnicodeError, OverflowError, TypeError)


def row_error(e: BaseException) -> bool:
    """Whether a failed write was refused for the values written, so that retrying them can never
    succeed; otherwise the database is unavailable (an outage), and a retry later may succeed."""
    if isinstance(e, _BIND_ERRORS):
        return True
    orig = getattr(e, "orig", None)
    state = getattr(orig, "sqlstate", None)  # psycopg
    if isinstance(state, str):
        return state[:2] in _ROW_SQLSTATE_CLASSES or state in _ROW_SQLSTATES
    code = getattr(orig, "sqlite_errorcode", None)  # sqlite3 (its extended code)
    if isinstance(code, int):
        return code & 0xFF in _ROW_SQLITE_CODES
    if isinstance(e, sa_exc.StatementError) and not isinstance(e, sa_exc.DBAPIError):
        return True  # a bind processor failed on a value
    # Without a code: a value the driver cannot adapt ("cannot adapt type", "Error binding
    # parameter"), or another driver's own verdict.
    return isinstance(e, sa_exc.IntegrityError | sa_exc.DataError | sa_exc.ProgrammingError)
