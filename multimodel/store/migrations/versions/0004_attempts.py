"""The attempts table: every upstream call made for a client request.

Revision ID: 0004_attempts
Revises: 0003_api_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_attempts"
down_revision = "0003_api_keys"
branch_labels = None
depends_on = None

_RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A frozen copy of the columns, as in 0001: never an import of tables.py.
    op.create_table(
        "attempts",
        sa.Column("id", _RowId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("public_model", sa.String(), nullable=False),
        sa.Column("deployment", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error_type", sa.String(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_attempts_request_id_n", "attempts", ["request_id", "n"], unique=True)
    op.create_index("ix_attempts_deployment_started_at", "attempts", ["deployment", "started_at"])


def downgrade() -> None:
    op.drop_table("attempts")
