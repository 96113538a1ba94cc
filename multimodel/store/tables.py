"""The database schema as SQLAlchemy Core tables: the shape the migrations build.

A test compares this against a freshly migrated database, so an edit here without a
matching migration fails the suite.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()


class _NoNul(sa.types.TypeDecorator[str]):
    """Text that PostgreSQL can store. Its text types refuse NUL (U+0000), which a client can
    send inside JSON as "\\u0000"; there it becomes U+FFFD instead of costing the whole row."""

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if isinstance(value, str) and "\x00" in value and dialect.name == "postgresql":
            return value.replace("\x00", "\ufffd")
        return value


class String(_NoNul):
    impl = sa.String
    cache_ok = True  # looked up on each class itself


class Text(_NoNul):
    impl = sa.Text
    cache_ok = True


# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

usage = sa.Table(
    "usage",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("request_id", String(), nullable=False),
    # Unix seconds, as in UsageRow: exact, indexable, and the same on both backends.
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("api_format", String(), nullable=False),
    sa.Column("endpoint", String(), nullable=False),
    sa.Column("public_model", String(), nullable=False),
    sa.Column("provider", String(), nullable=True),
    sa.Column("upstream_model", String(), nullable=True),
    sa.Column("stream", sa.Boolean(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("error_type", String(), nullable=True),
    sa.Column("latency_ms", sa.Double(), nullable=False),
    sa.Column("ttft_ms", sa.Double(), nullable=True),
    sa.Column("input_tokens", sa.Integer(), nullable=False),
    sa.Column("output_tokens", sa.Integer(), nullable=False),
    sa.Column("cost_usd", sa.Double(), nullable=True),
    sa.Column("user", String(), nullable=True),  # a reserved word in SQL: quote it in raw queries
    sa.Column("prompt", Text(), nullable=True),
    sa.Column("answer", Text(), nullable=True),
    # The alias the client asked for when another model answered (the `auto` route), else NULL.
    sa.Column("route", String(), nullable=True),
    # The gateway API key (api_keys.id) that made the request; NULL when keys are not in use.
    sa.Column("key_id", String(), nullable=True),
    # Parts of input_tokens (cache) and of output_tokens (reasoning); migration 0006_token_details.
    sa.Column("cache_read_tokens", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("cache_write_tokens", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("reasoning_tokens", sa.Integer(), nullable=False, server_default="0"),
    sa.Index("ix_usage_request_id", "request_id", unique=True),
    sa.Index("ix_usage_created_at", "created_at"),
    # Leads with the model so it serves "rows of model X" and "model X over a time range".
    sa.Index("ix_usage_public_model_created_at", "public_model", "created_at"),
    sa.Index("ix_usage_key_id_created_at", "key_id", "created_at"),  # spend per key
)

# --- the preference engine (migration 0002_preference) ------------------------------------

# One arena battle: two anonymous answers to one prompt. The names stay here until the vote.
battles = sa.Table(
    "battles",
    metadata,
    sa.Column("id", String(), primary_key=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("model_a", String(), nullable=False),
    sa.Column("model_b", String(), nullable=False),
    sa.Column("prompt", Text(), nullable=False),  # JSON: the OpenAI-format messages
    sa.Column("user", String(), nullable=True),
    sa.Column("category", String(), nullable=True),
    # usage.request_id of each side's answer, set when the side is claimed (before the model runs).
    sa.Column("request_a", String(), nullable=True),
    sa.Column("request_b", String(), nullable=True),
    sa.Column("key_id", String(), nullable=True),  # the API key that created it (migration 0003)
    sa.Index("ix_battles_created_at", "created_at"),
    # Migration 0005: the caps per key, and the usage summary's "is this answer's battle voted?".
    sa.Index("ix_battles_key_id_created_at", "key_id", "created_at"),
    sa.Index("ix_battles_request_a", "request_a"),
    sa.Index("ix_battles_request_b", "request_b"),
)

votes = sa.Table(
    "votes",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("battle_id", String(), sa.ForeignKey("battles.id"), nullable=False),
    # The Chatbot Arena vocabulary (multimodel.preference.battles.WINNERS).
    sa.Column("winner", String(), nullable=False),
    sa.Column("user", String(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("key_id", String(), nullable=True),  # the voter's API key, its battle's (migration 0005)
    sa.Index("ix_votes_battle_id", "battle_id", unique=True),  # one vote per battle
    sa.Index("ix_votes_user_created_at", "user", "created_at"),
    sa.Index("ix_votes_key_id_created_at", "key_id", "created_at"),  # the daily caps
)

# Feedback on one answer (any request id in the usage log), one per user and answer.
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("request_id", String(), nullable=False),
    # "" for anonymous feedback: NULLs never collide in a unique index, so they could not be updated.
    sa.Column("user", String(), nullable=False),
    sa.Column("rating", String(), nullable=True),  # "up" | "down"
    sa.Column("score", sa.Integer(), nullable=True),  # 1..5
    sa.Column("comment", Text(), nullable=True),
    sa.Column("category", String(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Index("ix_feedback_request_id_user", "request_id", "user", unique=True),
)

# --- gateway API keys (migration 0003_api_keys) -------------------------------------------

# A key is shown once, at creation; only its SHA-256 is kept. `prefix` identifies it in listings.
api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", String(), primary_key=True),
    sa.Column("name", String(), nullable=False),
    sa.Column("key_hash", String(), nullable=False),
    sa.Column("prefix", String(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("revoked_at", sa.Double(), nullable=True),
    sa.Column("budget_usd", sa.Double(), nullable=True),  # total spend allowed; NULL: no limit
    sa.Column("rpm", sa.Integer(), nullable=True),  # requests per minute; NULL: no limit
    sa.Column("models", Text(), nullable=True),  # JSON list of allowed public names; NULL: all
    # Sees the whole usage log in /v1/usage/summary; other keys see their own requests only.
    sa.Column("admin", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("ix_api_keys_key_hash", "key_hash", unique=True),
    sa.Index("ix_api_keys_name", "name", unique=True),
)

# --- upstream attempts (migration 0004_attempts) -----------------------------------------

# Every upstream call made for a client request (retries, failovers, fallbacks), by usage.request_id.
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", _RowId, primary_key=True, autoincrement=True),
    sa.Column("request_id", String(), nullable=False),
    sa.Column("n", sa.Integer(), nullable=False),  # 1, 2, ... in the order they were made
    sa.Column("public_model", String(), nullable=False),  # the model tried (asked for, or a fallback)
    sa.Column("deployment", String(), nullable=False),
    sa.Column("provider", String(), nullable=False),
    sa.Column("outcome", String(), nullable=False),  # ok | error | aborted
    sa.Column("status", sa.Integer(), nullable=True),  # the upstream's HTTP status; NULL: no answer
    sa.Column("error_type", String(), nullable=True),  # failure condition, else error kind
    sa.Column("latency_ms", sa.Double(), nullable=False),
    sa.Column("started_at", sa.Double(), nullable=False),  # unix seconds
    # Unique, so a batch retried after an in-doubt commit never duplicates an attempt.
    sa.Index("ix_attempts_request_id_n", "request_id", "n", unique=True),
    sa.Index("ix_attempts_deployment_started_at", "deployment", "started_at"),
)

# --- the Responses API's stored responses (migration 0007_responses) ---------------------

# One response of POST /v1/responses made with `store` (the default). Its items are JSON in
# OpenAI's item shapes: they are only ever read back whole, to answer or continue the conversation.
responses = sa.Table(
    "responses",
    metadata,
    sa.Column("id", String(), primary_key=True),  # resp_...
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("completed_at", sa.Double(), nullable=True),
    sa.Column("key_id", String(), nullable=True),  # the owner; NULL when keys are not in use
    sa.Column("model", String(), nullable=False),  # the public name that answered
    sa.Column("status", String(), nullable=False),  # completed | incomplete
    sa.Column("incomplete_reason", String(), nullable=True),  # max_output_tokens | content_filter
    sa.Column("previous_response_id", String(), nullable=True),
    sa.Column("instructions", Text(), nullable=True),
    sa.Column("metadata", Text(), nullable=False),  # JSON object of strings
    # JSON arrays: every item the model read (the previous turns' included), and its answer.
    sa.Column("input_items", Text(), nullable=False),
    sa.Column("output_items", Text(), nullable=False),
    sa.Column("settings", Text(), nullable=False),  # JSON: the request's echoed parameters
    sa.Column("input_tokens", sa.Integer(), nullable=False),
    sa.Column("output_tokens", sa.Integer(), nullable=False),
    sa.Column("cached_tokens", sa.Integer(), nullable=False),
    sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
    sa.Index("ix_responses_key_id_created_at", "key_id", "created_at"),
)
