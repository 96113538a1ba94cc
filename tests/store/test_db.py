"""Engines, migrations and the readiness check, against real SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from multimodel.store import make_engine, upgrade
from multimodel.store.db import alembic_config, check_writable, normalize_url
from multimodel.store.queries import count_rows
from multimodel.store.tables import metadata, usage

from .conftest import Db

pytestmark = pytest.mark.timeout(60)


def test_normalize_url() -> None:
    assert normalize_url("postgresql://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"
    assert (
        normalize_url("postgres://u:p@h/d?sslmode=require") == "postgresql+psycopg://u:p@h/d?sslmode=require"
    )
    assert normalize_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///multimodel.db") == "sqlite:///multimodel.db"
    assert normalize_url("sqlite:////var/lib/mm/x.db") == "sqlite:////var/lib/mm/x.db"


def test_upgrade_creates_the_usage_table(empty_db: Db) -> None:
    upgrade(empty_db.engine)
    inspector = sa.inspect(empty_db.engine)
    assert {"usage", "battles", "votes", "feedback", "responses", "alembic_version"} <= set(
        inspector.get_table_names()
    )
    indexes = {ix["name"]: ix for ix in inspector.get_indexes("usage")}
    assert indexes["ix_usage_request_id"]["unique"]
    assert indexes["ix_usage_created_at"]["column_names"] == ["created_at"]
    assert indexes["ix_usage_public_model_created_at"]["column_names"] == ["public_model", "created_at"]
    with empty_db.engine.connect() as conn:
        assert (
            conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0007_responses"
        )


def test_upgrade_is_idempotent_and_keeps_rows(db: Db) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO usage (request_id, created_at, api_format, endpoint, public_model, stream,"
            " status, latency_ms, input_tokens, output_tokens)"
            " VALUES ('r1', 1.5, 'openai', 'chat', 'm', false, 200, 2.0, 1, 2)"
        )
    upgrade(db.engine)
    upgrade(db.engine)
    assert count_rows(db.engine) == 1


def test_the_token_details_migration_keeps_older_rows_as_counting_none(empty_db: Db) -> None:
    with empty_db.engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0005_arena_guards")
        conn.exec_driver_sql(
            "INSERT INTO usage (request_id, created_at, api_format, endpoint, public_model, stream,"
            " status, latency_ms, input_tokens, output_tokens)"
            " VALUES ('old', 1.5, 'anthropic', 'chat', 'm', false, 200, 2.0, 30, 4)"
        )
    upgrade(empty_db.engine)
    with empty_db.engine.connect() as conn:
        old = conn.execute(sa.select(usage).where(usage.c.request_id == "old")).mappings().one()
    assert (old["input_tokens"], old["output_tokens"]) == (30, 4)
    assert (old["cache_read_tokens"], old["cache_write_tokens"], old["reasoning_tokens"]) == (0, 0, 0)
    columns = {c["name"]: c for c in sa.inspect(empty_db.engine).get_columns("usage")}
    for name in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
        assert not columns[name]["nullable"], name


def test_tables_py_matches_the_migrations(db: Db) -> None:
    # An edit to tables.py without a migration (or the reverse) shows up here.
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrade_from_a_url_creates_the_sqlite_directory(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.db"
    upgrade(f"sqlite:///{path}")
    assert path.is_file()
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert count_rows(engine) == 0
    finally:
        engine.dispose()


def test_sqlite_connections_use_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", sqlite_busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    finally:
        engine.dispose()


def test_check_writable(db: Db) -> None:
    assert check_writable(db.engine) is None
    with db.outage("renamed"):
        problem = check_writable(db.engine)
    assert problem is not None and "usage" in problem
    assert check_writable(db.engine) is None


def test_check_writable_reports_a_locked_sqlite_file(sqlite_db: Db) -> None:
    # (A PostgreSQL table lock does not fail the check, by design: the check takes no lock.)
    # One pooled connection, so the second check below sees the connection the first used.
    engine = make_engine(sqlite_db.url, sqlite_busy_timeout_ms=100, pool_size=1, max_overflow=0)
    try:
        with sqlite_db.outage("locked"):
            problem = check_writable(engine)
        assert problem is not None and "locked" in problem
        # The short readiness timeout was undone: the connection is back to the engine's own.
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 100
        assert check_writable(engine) is None
    finally:
        engine.dispose()


def test_check_writable_reports_an_unreachable_server() -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    try:
        problem = check_writable(engine)
    finally:
        engine.dispose()
    assert problem is not None and problem.startswith("OperationalError")


def test_check_writable_reports_a_missing_table(empty_db: Db) -> None:
    assert check_writable(empty_db.engine) is not None
