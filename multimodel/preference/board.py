"""The leaderboard as the API and the CLI show it: the Bradley–Terry table from arena votes, the
pairwise win rates behind it, and the satisfaction table from feedback on single answers, in one
JSON shape."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from multimodel.preference import store
from multimodel.preference.bradley_terry import RatingUndefinedError
from multimodel.preference.leaderboard import Row, format_table, leaderboard_of_pairs
from multimodel.preference.live import pairs_of
from multimodel.preference.pairs import Pairs
from multimodel.preference.satisfaction import SatisfactionRow, format_satisfaction, satisfaction


@dataclass(frozen=True, slots=True)
class Pairwise:
    """win_rate[r][c]: the share of the battles between models[r] and models[c] that models[r] won,
    ties and both-bad counting half; None where the two never met. Models in leaderboard order."""

    models: list[str]
    win_rate: list[list[float | None]]
    battles: list[list[int]]


def win_rates(pairs: Pairs, order: Iterable[str] = ()) -> Pairwise:
    """The win-rate matrix of `pairs`, models in `order` first, then the rest by name."""
    ranked = [m for m in order if m in pairs.models]
    models = ranked + [m for m in pairs.models if m not in ranked]
    index = np.array([pairs.models.index(m) for m in models], dtype=np.int64)
    wins = pairs.matrix()[np.ix_(index, index)]
    met = wins + wins.T  # battles between the two: each one's wins plus half ties both ways
    rate = [
        [None if met[r, c] == 0 else float(wins[r, c] / met[r, c]) for c in range(len(models))]
        for r in range(len(models))
    ]
    return Pairwise(models, rate, met.round().astype(int).tolist())


@dataclass(frozen=True, slots=True)
class Board:
    category: str | None
    battles: int
    rounds: int
    rows: list[Row] = field(default_factory=list)
    satisfaction: list[SatisfactionRow] = field(default_factory=list)
    note: str | None = None  # why there are no ratings (no votes yet, or they do not define them)
    pairwise: Pairwise = field(default_factory=lambda: Pairwise([], [], []))
    categories: list[str] = field(default_factory=list)  # every category with votes or feedback

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "leaderboard",
            "category": self.category,
            "battles": self.battles,
            "bootstrap_rounds": self.rounds,
            "leaderboard": [asdict(r) for r in self.rows],
            "satisfaction": [asdict(r) for r in self.satisfaction],
            "note": self.note,
            "pairwise": asdict(self.pairwise),
            "categories": self.categories,
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
    n_battles = int(pairs.battles.sum())
    happy = satisfaction(feedback)
    if n_battles == 0:
        return Board(category, 0, rounds, [], happy, "no votes yet")
    try:
        rows = leaderboard_of_pairs(pairs, anchor, rounds)
    except RatingUndefinedError as e:  # the win rates are still worth showing
        return Board(category, n_battles, rounds, [], happy, str(e), win_rates(pairs))
    return Board(category, n_battles, rounds, rows, happy, None, win_rates(pairs, (r.model for r in rows)))


def board_from_db(
    engine: Engine,
    category: str | None = None,
    rounds: int = 1000,
    anchor: tuple[str, float] | None = None,
) -> Board:
    pairs = pairs_of(store.pair_counts(engine, category))
    board = compute_board(
        pairs, store.feedback_records(engine, category), category=category, rounds=rounds, anchor=anchor
    )
    return replace(board, categories=store.categories_of(engine))
