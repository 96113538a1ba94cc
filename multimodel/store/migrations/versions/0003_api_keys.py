"""Gateway API keys (stored as SHA-256 hashes), usage.key_id and battles.key_id.

Revision ID: 0003_api_keys
Revises: 0002_preference
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_api_keys"
down_revision = "0002_preference"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A frozen copy of the columns, as in 0001: never an import of tables.py.
    op.add_column("usage", sa.Column("key_id", sa.String(), nullable=True))
    op.create_index("ix_usage_key_id_created_at", "usage", ["key_id", "created_at"])
    op.add_column("battles", sa.Column("key_id", sa.String(), nullable=True))
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("key_hash", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.Column("budget_usd", sa.Double(), nullable=True),
        sa.Column("rpm", sa.Integer(), nullable=True),
        sa.Column("models", sa.Text(), nullable=True),
        sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.create_index("ix_api_keys_name", "api_keys", ["name"], unique=True)


def downgrade() -> None:
    op.drop_table("api_keys")
    with op.batch_alter_table("battles") as batch:
        batch.drop_column("key_id")
    op.drop_index("ix_usage_key_id_created_at", "usage")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("key_id")
