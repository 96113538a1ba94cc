"""Real databases for the store tests: a SQLite file in tmp_path, and a fresh schema in
the local PostgreSQL for each test. Outages are real too: a held lock or a renamed table.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from multimodel.store import make_engine, upgrade

PG_URL = os.environ.get("MULTIMODEL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Short, so a locked SQLite file makes the writer fail and back off within the test's time.
SQLITE_BUSY_MS = 100


@dataclass
class Db:
    backend: str  # "sqlite" | "postgres"
    url: str
    engine: Engine
    schema: str | None = None  # postgres: the per-test schema

    def engine_kwargs(self) -> dict[str, Any]:
        if self.schema is None:
            return {"sqlite_busy_timeout_ms": SQLITE_BUSY_MS}
        return {"connect_args": {"options": f"-csearch_path={self.schema}"}}

    def new_engine(self) -> Engine:
        return make_engine(self.url, **self.engine_kwargs())

    @contextlib.contextmanager
    def outage(self, kind: str) -> Iterator[None]:
        """``locked``: another session holds the write lock. ``renamed``: the table is gone."""
        with self._locked() if kind == "locked" else self._renamed():
            yield

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.schema is None:
            other = sqlite3.connect(self.engine.url.database or "", isolation_level=None)
            other.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                other.execute("ROLLBACK")
                other.close()
            return
        with self.engine.connect() as holder:
            holder.exec_driver_sql("LOCK TABLE usage IN ACCESS EXCLUSIVE MODE")
            try:
                yield
            finally:
                holder.rollback()

    @contextlib.contextmanager
    def _renamed(self) -> Iterator[None]:
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE usage RENAME TO usage_away")
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE usage_away RENAME TO usage")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = make_engine(PG_URL, connect_args={"connect_timeout": 3})
    problem = None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as e:
        problem = str(e.orig).strip()
    if problem is not None:
        engine.dispose()
        pytest.fail(
            f"PostgreSQL is required for the store tests and is not reachable at {PG_URL}: {problem}. "
            "Start it, or point MULTIMODEL_TEST_POSTGRES_URL at one.",
            pytrace=False,
        )
    yield engine
    engine.dispose()


@contextlib.contextmanager
def _sqlite_db(tmp_path: Path) -> Iterator[Db]:
    url = f"sqlite:///{tmp_path / 'data' / 'usage.db'}"
    engine = make_engine(url, sqlite_busy_timeout_ms=SQLITE_BUSY_MS)
    try:
        yield Db("sqlite", url, engine)
    finally:
        engine.dispose()


@contextlib.contextmanager
def _postgres_db(admin: Engine) -> Iterator[Db]:
    schema = f"mm_{uuid.uuid4().hex}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield Db("postgres", PG_URL, engine, schema)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A database with no tables yet."""
    if request.param == "sqlite":
        with _sqlite_db(tmp_path) as db:
            yield db
    else:
        with _postgres_db(request.getfixturevalue("pg_admin")) as db:
            yield db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Db]:
    """A migrated SQLite database, for the checks that only SQLite has."""
    with _sqlite_db(tmp_path) as db:
        upgrade(db.engine)
        yield db


@pytest.fixture
def db(empty_db: Db) -> Db:
    """A migrated database."""
    upgrade(empty_db.engine)
    return empty_db
