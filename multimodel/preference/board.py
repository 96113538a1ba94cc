"""The leaderboard as the API and the CLI show it: the Bradley–Terry table from arena votes and
the satisfaction table from feedback on single answers, in one JSON shape."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from multimodel.preference import store
from multimodel.preference.bradley_terry import RatingUndefinedError
from multimodel.preference.leaderboard import Row, format_table, leaderboard_of_pairs
from multimodel.preference.live import pairs_of
from multimodel.preference.pairs import Pairs
from multimodel.preference.satisfaction import SatisfactionRow, format_satisfaction, satisfaction


@dataclass(frozen=True, slots=True)
class Board:
    category: str | None
    battles: int
    rounds: int
    rows: list[Row] = field(default_factory=list)
    satisfaction: list[SatisfactionRow] = field(default_factory=list)
    note: str | None = None  # why there are no ratings (no votes yet, or they do not define them)

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "leaderboard",
            "category": self.category,
            "battles": self.battles,
            "bootstrap_rounds": self.rounds,
            "leaderboard": [asdict(r) for r in self.rows],
            "satisfaction": [asdict(r) for r in self.satisfaction],
            "note": self.note,
        }

    def as_table(self) -> str:
        parts = [format_table(self.rows) if self.rows else f"(no ratings: {self.note})\n"]
        if self.satisfaction:
            parts.append(format_satisfaction(self.satisfaction))
        return "\n".join(parts)


def compute_board(
    pairs: Pairs,
    feedback: Iterable[tuple[str, str, int]] = (),
    *,
    category: str | None = None,
    rounds: int = 1000,
    anchor: tuple[str, float] | None = None,
) -> Board:
    """Raises ValueError for an anchor model without battles; undefined ratings become a note."""
    battles = int(pairs.battles.sum())
    happy = satisfaction(feedback)
    if battles == 0:
        return Board(category, 0, rounds, [], happy, "no votes yet")
    try:
        rows = leaderboard_of_pairs(pairs, anchor, rounds)
    except RatingUndefinedError as e:
        return Board(category, battles, rounds, [], happy, str(e))
    return Board(category, battles, rounds, rows, happy)


def board_from_db(
    engine: Engine,
    category: str | None = None,
    rounds: int = 1000,
    anchor: tuple[str, float] | None = None,
) -> Board:
    pairs = pairs_of(store.pair_counts(engine, category))
    return compute_board(
        pairs, store.feedback_records(engine, category), category=category, rounds=rounds, anchor=anchor
    )
