"""The preference engine: arena battles and votes, feedback on answers, usage.route.

Revision ID: 0002_preference
Revises: 0001_usage_log
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_preference"
down_revision = "0001_usage_log"
branch_labels = None
depends_on = None

_RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A frozen copy of the columns, as in 0001: never an import of tables.py.
    op.add_column("usage", sa.Column("route", sa.String(), nullable=True))
    op.create_table(
        "battles",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("model_a", sa.String(), nullable=False),
        sa.Column("model_b", sa.String(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("user", sa.String(), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("request_a", sa.String(), nullable=True),
        sa.Column("request_b", sa.String(), nullable=True),
    )
    op.create_index("ix_battles_created_at", "battles", ["created_at"])
    op.create_table(
        "votes",
        sa.Column("id", _RowId, primary_key=True, autoincrement=True),
        sa.Column("battle_id", sa.String(), sa.ForeignKey("battles.id"), nullable=False),
        sa.Column("winner", sa.String(), nullable=False),
        sa.Column("user", sa.String(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_votes_battle_id", "votes", ["battle_id"], unique=True)
    op.create_index("ix_votes_user_created_at", "votes", ["user", "created_at"])
    op.create_table(
        "feedback",
        sa.Column("id", _RowId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("user", sa.String(), nullable=False),
        sa.Column("rating", sa.String(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_feedback_request_id_user", "feedback", ["request_id", "user"], unique=True)


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("votes")
    op.drop_table("battles")
    with op.batch_alter_table("usage") as batch:
        batch.drop_column("route")
