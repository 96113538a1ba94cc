"""The usage log's token details: cache reads and writes (parts of input_tokens) and reasoning
tokens (part of output_tokens). Rows written before count none of them.

Revision ID: 0006_token_details
Revises: 0005_arena_guards
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_token_details"
down_revision = "0005_arena_guards"
branch_labels = None
depends_on = None

_COLUMNS = ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")


def upgrade() -> None:
    # A frozen copy of the columns, as in 0001: never an import of tables.py.
    for name in _COLUMNS:
        op.add_column("usage", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("usage") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
