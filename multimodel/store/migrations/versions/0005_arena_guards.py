"""The arena's guards: votes.key_id (caps per API key) and the indexes that the caps and the
usage summary's "is this arena answer's battle voted?" need.

Revision ID: 0005_arena_guards
Revises: 0004_attempts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_arena_guards"
down_revision = "0004_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A frozen copy of the columns, as in 0001: never an import of tables.py.
    op.add_column("votes", sa.Column("key_id", sa.String(), nullable=True))
    # A vote's key is its battle's: with keys in use, only the key that made a battle sees it.
    op.execute(
        "UPDATE votes SET key_id = (SELECT battles.key_id FROM battles WHERE battles.id = votes.battle_id)"
        " WHERE battle_id IN (SELECT id FROM battles WHERE key_id IS NOT NULL)"
    )
    op.create_index("ix_votes_key_id_created_at", "votes", ["key_id", "created_at"])
    op.create_index("ix_battles_key_id_created_at", "battles", ["key_id", "created_at"])
    op.create_index("ix_battles_request_a", "battles", ["request_a"])
    op.create_index("ix_battles_request_b", "battles", ["request_b"])


def downgrade() -> None:
    op.drop_index("ix_battles_request_b", "battles")
    op.drop_index("ix_battles_request_a", "battles")
    op.drop_index("ix_battles_key_id_created_at", "battles")
    op.drop_index("ix_votes_key_id_created_at", "votes")
    with op.batch_alter_table("votes") as batch:
        batch.drop_column("key_id")
