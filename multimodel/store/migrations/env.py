"""Alembic environment. There is no alembic.ini: multimodel.store.db.alembic_config()
builds the config, and upgrade() hands in an open connection through
``config.attributes["connection"]``.

New migration (append-only, named ``NNNN_what``):
    python -c "from multimodel.store.db import alembic_config; from alembic import command; \\
        command.revision(alembic_config('sqlite:///dev.db'), 'what', rev_id='0002_what', autogenerate=True)"
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from multimodel.store.db import make_engine
from multimodel.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    _run_online()
