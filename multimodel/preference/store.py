"""The preference engine's database access: battles, votes, feedback, and the counts the ratings
need. Plain synchronous functions over a SQLAlchemy engine; the API calls them in a thread.

None of this is on the model-call hot path: the `auto` route reads ratings the background
refresher computed from `pair_counts` (see multimodel.preference.live).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from multimodel.preference.battles import Battle, Winner
from multimodel.store.tables import battles, feedback, usage, votes

DAY_S = 86_400.0
ARENA_ID_PREFIX = "bat_"  # the arena's battles; imported ones are "imp_<file hash>_<n>"


@dataclass(frozen=True, slots=True)
class BattleRow:
    id: str
    created_at: float
    model_a: str
    model_b: str
    prompt: str  # JSON: the OpenAI-format messages
    user: str | None
    category: str | None
    request_a: str | None
    request_b: str | None
    winner: Winner | None  # None until voted
    key_id: str | None = None  # the API key that created it, when keys are in use


@dataclass(frozen=True, slots=True)
class Caps:
    """Daily caps on battles or votes: per (API key, user), callers without a user id sharing
    their key's anonymous one, and per key. Without API keys every caller together is one key:
    `user` is whatever the caller says, so only that total bounds one who changes it each time."""

    per_user: int
    per_key: int


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    request_id: str
    user: str  # "" when anonymous
    rating: str | None
    score: int | None
    comment: str | None
    category: str | None
    created_at: float
    updated_at: float


# (model_a, model_b, winner, battles): the votes grouped, all the ratings need.
PairCount = tuple[str, str, Winner, int]
# (model, outcome against a satisfactory answer as "model_a" = the model won, count): see feedback_counts.
FeedbackCount = tuple[str, Winner, int]
CapOutcome = Literal["ok", "over_user_cap", "over_key_cap"]
VoteOutcome = Literal["recorded", "already_voted", "over_user_cap", "over_key_cap"]
_BATTLE_FIELDS = tuple(f.name for f in fields(BattleRow))
_FEEDBACK_FIELDS = tuple(f.name for f in fields(FeedbackRow))


def answer_of(engine: Engine, request_id: str) -> tuple[str, str | None] | None:
    """(endpoint, key id) of a logged request ("chat", "arena", ...), or None if it is not logged."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(usage.c.endpoint, usage.c.key_id).where(usage.c.request_id == request_id)
        ).first()
    return None if row is None else (row[0], row[1])


def save_feedback(engine: Engine, row: FeedbackRow) -> FeedbackRow:
    """Insert, or replace the same user's feedback on the same answer (keeping its created_at)."""
    insert = _insert(engine, feedback).values({k: getattr(row, k) for k in _FEEDBACK_FIELDS})
    update = {k: insert.excluded[k] for k in ("rating", "score", "comment", "category", "updated_at")}
    key = (feedback.c.request_id == row.request_id) & (feedback.c.user == row.user)
    with engine.begin() as conn:
        conn.execute(insert.on_conflict_do_update(index_elements=["request_id", "user"], set_=update))
        stored = conn.execute(sa.select(feedback).where(key)).mappings().one()
    return FeedbackRow(**{k: stored[k] for k in _FEEDBACK_FIELDS})


def create_battle(engine: Engine, row: BattleRow, caps: Caps) -> CapOutcome:
    """Insert the battle unless its (key, user) or its key made `caps` battles in the last 24 hours."""
    values = {k: getattr(row, k) for k in _BATTLE_FIELDS if k != "winner"}
    with engine.begin() as conn:
        _lock_caps(conn, battles, row.key_id)
        outcome = _over_cap(conn, battles.c.id, row.key_id, row.user, row.created_at - DAY_S, caps)
        if outcome == "ok":
            conn.execute(sa.insert(battles).values(values))
    return outcome


def get_battle(engine: Engine, battle_id: str) -> BattleRow | None:
    query = (
        sa.select(battles, votes.c.winner)
        .select_from(battles.outerjoin(votes, votes.c.battle_id == battles.c.id))
        .where(battles.c.id == battle_id)
    )
    with engine.connect() as conn:
        r = conn.execute(query).mappings().one_or_none()
    return None if r is None else BattleRow(**{k: r[k] for k in _BATTLE_FIELDS})


def claim_side(engine: Engine, battle_id: str, side: Literal["a", "b"], request_id: str) -> bool:
    """Give a side its answer's request id, if it has none yet: True for the one caller that did.
    A single conditional UPDATE, so of two concurrent claims only one can win."""
    column = battles.c.request_a if side == "a" else battles.c.request_b
    with engine.begin() as conn:
        claimed = conn.execute(
            sa.update(battles)
            .where(battles.c.id == battle_id, column.is_(None))
            .values({column.name: request_id})
        )
    return claimed.rowcount == 1


def release_side(engine: Engine, battle_id: str, side: Literal["a", "b"], request_id: str) -> None:
    """Undo this request's claim (its answer never began), so that the side can be streamed again."""
    column = battles.c.request_a if side == "a" else battles.c.request_b
    with engine.begin() as conn:
        conn.execute(
            sa.update(battles)
            .where(battles.c.id == battle_id, column == request_id)
            .values({column.name: None})
        )


def record_vote(
    engine: Engine,
    battle_id: str,
    winner: Winner,
    user: str | None,
    key_id: str | None,
    now: float,
    caps: Caps,
) -> VoteOutcome:
    """One vote per battle (the unique index decides a race), and at most `caps` in the last 24
    hours per (key, user) and per key."""
    try:
        with engine.begin() as conn:
            _lock_caps(conn, votes, key_id)
            if _voted(conn, battle_id):
                return "already_voted"
            outcome = _over_cap(conn, votes.c.battle_id, key_id, user, now - DAY_S, caps)
            if outcome != "ok":
                return outcome
            conn.execute(
                sa.insert(votes).values(
                    battle_id=battle_id, winner=winner, user=user, key_id=key_id, created_at=now
                )
            )
    except sa_exc.IntegrityError:
        return "already_voted"
    return "recorded"


def _lock_caps(conn: Connection, table: sa.Table, key_id: str | None) -> None:
    """Hold off other cap checks of this key on `table` until the transaction ends, so that two
    concurrent requests cannot both see room for one more."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:table), hashtext(:key))"),
            {"table": table.name, "key": key_id or ""},
        )
    else:  # SQLite has one writer at a time: a write (of no row) takes that lock now, not at the insert
        conn.exec_driver_sql(f"UPDATE {table.name} SET id = id WHERE 0")


def _over_cap(
    conn: Connection, row_id: sa.Column[Any], key_id: str | None, user: str | None, since: float, caps: Caps
) -> CapOutcome:
    """Whether one more row of `row_id`'s table (battles or votes) by this (key, user) stays
    within `caps`, counting the rows made after `since`."""
    table = row_id.table
    mine: sa.ColumnElement[bool] = table.c.key_id == key_id
    if key_id is None:  # imported battles and votes have no key either: count the arena's own only
        mine = table.c.key_id.is_(None) & row_id.startswith(ARENA_ID_PREFIX, autoescape=True)
    same_user = table.c.user.is_(None) if user is None else table.c.user == user
    by_key, by_user = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(sa.case((same_user, 1), else_=0)))
        .select_from(table)
        .where(mine, table.c.created_at > since)
    ).one()
    if (by_user or 0) >= caps.per_user:
        return "over_user_cap"
    return "over_key_cap" if by_key >= caps.per_key else "ok"


def _voted(conn: Connection, battle_id: str) -> bool:
    return conn.execute(sa.select(votes.c.id).where(votes.c.battle_id == battle_id)).first() is not None


def pair_counts(engine: Engine, category: str | None = None) -> list[PairCount]:
    """Votes grouped by (model_a, model_b, winner): a few rows per model pair, whatever the votes."""
    n = sa.func.count().label("n")
    query = sa.select(battles.c.model_a, battles.c.model_b, votes.c.winner, n).select_from(
        votes.join(battles, votes.c.battle_id == battles.c.id)
    )
    if category is not None:
        query = query.where(battles.c.category == category)
    query = query.group_by(battles.c.model_a, battles.c.model_b, votes.c.winner).order_by(
        battles.c.model_a, battles.c.model_b, votes.c.winner
    )
    with engine.connect() as conn:
        return [(a, b, w, int(k)) for a, b, w, k in conn.execute(query)]


def feedback_counts(engine: Engine) -> list[FeedbackCount]:
    """Ratings grouped per model as outcomes against a satisfactory answer: up or a score of 4-5
    won, down or 1-2 lost, 3 a tie (a score, being finer, counts over a thumb on the same row).
    What lets thumbs move the `auto` route (multimodel.preference.live)."""
    n = sa.func.count().label("n")
    query = (
        sa.select(usage.c.public_model, feedback.c.rating, feedback.c.score, n)
        .select_from(feedback.join(usage, usage.c.request_id == feedback.c.request_id))
        .group_by(usage.c.public_model, feedback.c.rating, feedback.c.score)
    )
    totals: dict[tuple[str, Winner], int] = {}
    with engine.connect() as conn:
        for model, rating, score, k in conn.execute(query):
            if score is not None:
                outcome: Winner = "model_a" if score >= 4 else "model_b" if score <= 2 else "tie"
            else:
                outcome = "model_a" if rating == "up" else "model_b"
            totals[(model, outcome)] = totals.get((model, outcome), 0) + int(k)
    return sorted((m, w, k) for (m, w), k in totals.items())


def import_battles(
    engine: Engine, items: Sequence[Battle], source: str, now: float, user: str = "import"
) -> int:
    """Voted battles from a file, as battles + votes without prompts. Ids derive from `source` (a
    hash of the file) and the position, so importing the same file twice adds nothing the second
    time. Returns how many were new."""
    prefix = f"imp_{source}_"
    with engine.begin() as conn:
        known = {r[0] for r in conn.execute(sa.select(battles.c.id).where(battles.c.id.like(prefix + "%")))}
        new = [(prefix + str(k), b) for k, b in enumerate(items) if prefix + str(k) not in known]
        for start in range(0, len(new), 5000):
            chunk = new[start : start + 5000]
            conn.execute(
                sa.insert(battles),
                [
                    {"id": i, "created_at": now, "model_a": b.model_a, "model_b": b.model_b}
                    | {"prompt": "[]", "user": user, "category": b.category}
                    for i, b in chunk
                ],
            )
            conn.execute(
                sa.insert(votes),
                [{"battle_id": i, "winner": b.winner, "user": user, "created_at": now} for i, b in chunk],
            )
    return len(new)


def voted_battles(engine: Engine) -> Iterator[Battle]:
    """Every voted battle, oldest vote first, as Chatbot Arena battles."""
    query = (
        sa.select(battles.c.model_a, battles.c.model_b, votes.c.winner, battles.c.category)
        .select_from(votes.join(battles, votes.c.battle_id == battles.c.id))
        .order_by(votes.c.id)
    )
    with engine.connect() as conn:
        for a, b, winner, category in conn.execute(query):
            yield Battle(a, b, winner, category)


def feedback_records(engine: Engine, category: str | None = None) -> list[tuple[str, str, int]]:
    """(model, "thumbs" | "score", value) per feedback row, for multimodel.preference.satisfaction."""
    query = sa.select(usage.c.public_model, feedback.c.rating, feedback.c.score).select_from(
        feedback.join(usage, usage.c.request_id == feedback.c.request_id)
    )
    if category is not None:
        query = query.where(feedback.c.category == category)
    records: list[tuple[str, str, int]] = []
    with engine.connect() as conn:
        for model, rating, score in conn.execute(query):
            if rating is not None:
                records.append((model, "thumbs", int(rating == "up")))
            if score is not None:
                records.append((model, "score", int(score)))
    return records


def _insert(engine: Engine, table: sa.Table) -> Any:
    """INSERT with ON CONFLICT support on both backends."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def categories_of(engine: Engine) -> list[str]:
    """The categories that battles or feedback were given, for a filter to offer."""
    query = sa.union(
        sa.select(battles.c.category).where(battles.c.category.is_not(None)),
        sa.select(feedback.c.category).where(feedback.c.category.is_not(None)),
    )
    with engine.connect() as conn:
        return sorted(c for (c,) in conn.execute(query))
