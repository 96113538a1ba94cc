"""The leaderboard: ratings, bootstrap intervals and ranks per model, and its output formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

from multimodel.preference.battles import Battle
from multimodel.preference.bootstrap import bootstrap, intervals, ranks
from multimodel.preference.bradley_terry import BradleyTerry, set_level
from multimodel.preference.pairs import Pairs, aggregate

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from multimodel.preference import RatingMethod


@dataclass(frozen=True, slots=True)
class Row:
    rank: int
    model: str
    rating: float
    ci_low: float
    ci_high: float
    votes: int  # battles involving the model
    wins: int
    ties: int  # ties and both-bad
    losses: int


def leaderboard(
    battles: Iterable[Battle],
    anchor: tuple[str, float] | None = None,
    rounds: int = 1000,
    seed: int = 0,
    category: str | None = None,
    *,
    level: float = 0.95,
    method: RatingMethod | None = None,
) -> list[Row]:
    """Rows sorted by rating, best first. With `category`, only that category's battles count."""
    if category is not None:
        battles = (b for b in battles if b.category == category)
    return leaderboard_of_pairs(aggregate(battles), anchor, rounds, seed, level=level, method=method)


def leaderboard_of_pairs(
    pairs: Pairs,
    anchor: tuple[str, float] | None = None,
    rounds: int = 1000,
    seed: int = 0,
    *,
    level: float = 0.95,
    method: RatingMethod | None = None,
) -> list[Row]:
    """The leaderboard of already aggregated battles (e.g. counted in the database)."""
    if pairs.n_models == 0:
        return []
    method = method or BradleyTerry()
    point = method.fit(pairs)
    rating = set_level(point, pairs.models, anchor)  # before the bootstrap: a bad anchor fails fast
    samples = bootstrap(pairs, rounds, seed, anchor=anchor, method=method, start=point)
    lo, hi = intervals(samples, level)
    rank = ranks(lo, hi)
    wins, ties, losses = pairs.record()
    rows = [
        Row(
            int(rank[k]),
            model,
            float(rating[k]),
            float(lo[k]),
            float(hi[k]),
            int(wins[k] + ties[k] + losses[k]),
            int(wins[k]),
            int(ties[k]),
            int(losses[k]),
        )
        for k, model in enumerate(pairs.models)
    ]
    return sorted(rows, key=lambda r: (-r.rating, r.model))


def categories(battles: Iterable[Battle]) -> list[str]:
    return sorted({b.category for b in battles if b.category is not None})


def by_category(
    battles: Sequence[Battle],
    anchor: tuple[str, float] | None = None,
    rounds: int = 1000,
    seed: int = 0,
    *,
    level: float = 0.95,
    method: RatingMethod | None = None,
) -> dict[str, list[Row]]:
    """One leaderboard per category (battles without a category appear only in the overall one).
    An anchor model absent from a category leaves that category at mean 1000."""
    boards = {}
    for c in categories(battles):
        pairs = aggregate(b for b in battles if b.category == c)
        pin = anchor if anchor is not None and anchor[0] in pairs.models else None
        boards[c] = leaderboard_of_pairs(pairs, pin, rounds, seed, level=level, method=method)
    return boards


def format_table(rows: Sequence[Row]) -> str:
    header = ("Rank", "Model", "Rating", "CI", "Votes", "Wins", "Ties", "Losses")
    body = [
        (
            str(r.rank),
            r.model,
            f"{r.rating:.1f}",
            f"+{r.ci_high - r.rating:.1f}/-{r.rating - r.ci_low:.1f}",
            str(r.votes),
            str(r.wins),
            str(r.ties),
            str(r.losses),
        )
        for r in rows
    ]
    return text_table(header, body, left=1)


def text_table(header: Sequence[str], body: Sequence[Sequence[str]], left: int = 0) -> str:
    """Aligned plain-text columns: column `left` (the model name) to the left, numbers to the right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *body, strict=True)]
    lines = [
        "  ".join(
            c.ljust(w) if k == left else c.rjust(w) for k, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in (header, *body)
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def to_json(rows: Sequence[DataclassInstance]) -> str:
    """A JSON array of objects, one per row (leaderboard or satisfaction rows)."""
    return json.dumps([asdict(r) for r in rows], indent=2) + "\n"


def to_csv(rows: Sequence[DataclassInstance]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, [f.name for f in fields(rows[0])], lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return out.getvalue()
