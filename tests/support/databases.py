"""The tests' real databases: a fresh PostgreSQL schema per test, and reading rows back."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("MULTIMODEL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def rows(database: str, table: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(sa_url(database))
    try:
        with engine.connect() as c:
            return [dict(r) for r in c.execute(sa.text(f"SELECT * FROM {table}")).mappings()]
    finally:
        engine.dispose()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose search_path is a fresh schema in the local PostgreSQL, dropped after."""
    schema = f"mm_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sa_url(PG_URL))
    try:
        with admin.begin() as c:
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except sa.exc.OperationalError as e:  # a missing service is a failure, never a skip
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable: {e}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
