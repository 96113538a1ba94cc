"""Storage: the usage log (tables, migrations, the batched writer)."""

from multimodel.store.db import make_engine, upgrade
from multimodel.store.usage import UsageRow
from multimodel.store.writer import UsageWriter

__all__ = ["UsageRow", "UsageWriter", "make_engine", "upgrade"]
