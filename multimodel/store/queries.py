"""Small read helpers over the usage log."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from multimodel.store.tables import usage


def count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(usage)).scalar_one())


def fetch_rows(engine: Engine, **filters: Any) -> list[dict[str, Any]]:
    """Rows whose columns equal the given values (``fetch_rows(e, public_model="x")``), oldest first."""
    unknown = set(filters) - set(usage.c.keys())
    if unknown:
        raise ValueError(f"no such usage column: {', '.join(sorted(unknown))}")
    query = sa.select(usage).where(*(usage.c[name] == value for name, value in filters.items()))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.order_by(usage.c.id)).mappings()]
