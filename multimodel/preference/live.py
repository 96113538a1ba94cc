"""The current standings, recomputed from the database by a background task.

Readers (the arena's pair choice, the `auto` route's picker) get the last snapshot: no database
query and no fitting on a request. Every `refresh_seconds` the task reads the vote and feedback
counts (GROUP BYs, a few rows per model pair), and when they changed fits Bradley–Terry and
draws the `auto` candidates' posterior in a worker thread, then swaps the snapshot in one assignment.

The `auto` candidates' posterior uses both kinds of preference. Arena votes are games between two
models; a thumb or score on an answer is a game against a virtual player, REFERENCE, "a
satisfactory answer" (up: the model won; down: it lost; see store.feedback_counts). One
Bradley–Terry fit on both puts them on one scale. Each candidate also holds PRIOR_TIES tied games
with REFERENCE: a weak prior that keeps the fit defined while some candidate has only wins (one
thumbs-up and nothing else) and fades as votes arrive. The draws come from the Laplace
approximation of that posterior (multimodel.preference.laplace), honest about how little a few
votes say. The public leaderboard stays the arena votes alone, without any prior.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.engine import Engine

from multimodel.periodic import Periodic
from multimodel.preference.bradley_terry import BradleyTerry, RatingUndefinedError
from multimodel.preference.laplace import laplace_draws
from multimodel.preference.pairs import OUTCOME_CODES, FloatArray, Pairs, aggregate_codes
from multimodel.preference.store import FeedbackCount, PairCount, feedback_counts, pair_counts
from multimodel.preference.thompson import posterior_for

REFERENCE = "\x00satisfactory answer"  # cannot collide with a configured model name
PRIOR_TIES = 1


@dataclass(frozen=True, slots=True)
class Standings:
    # Point Bradley–Terry ratings; empty while the votes do not define them (someone never lost, ...).
    ratings: Mapping[str, float] = field(default_factory=dict)
    battles: Mapping[tuple[str, str], int] = field(default_factory=dict)  # per pair, names sorted
    # Posterior draws of the `auto` candidates' ratings (rounds x candidates, NaN for a candidate without
    # battles); no rows while undefined, which the picker reads as "know nothing".
    samples: FloatArray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    votes: int = 0

    def battles_between(self, a: str, b: str) -> int:
        return self.battles.get((a, b) if a < b else (b, a), 0)


def pairs_of(counts: Iterable[PairCount], keep: Collection[str] | None = None) -> Pairs:
    """Grouped vote counts -> Pairs, optionally only the battles between two models of `keep`."""
    rows = [r for r in counts if keep is None or (r[0] in keep and r[1] in keep)]
    models = sorted({r[0] for r in rows} | {r[1] for r in rows})
    index = {m: k for k, m in enumerate(models)}
    n = np.array([r[3] for r in rows], dtype=np.int64)

    def column(values: Iterable[int]) -> np.ndarray:
        return np.repeat(np.fromiter(values, np.int64, len(rows)), n)

    return aggregate_codes(
        models,
        column(index[r[0]] for r in rows),
        column(index[r[1]] for r in rows),
        column(OUTCOME_CODES[r[2]] for r in rows),
    )


def compute_standings(
    counts: Sequence[PairCount],
    candidates: Sequence[str] = (),
    rounds: int = 1000,
    seed: int = 0,
    feedback: Sequence[FeedbackCount] = (),
) -> Standings:
    """Ratings of every model (arena votes), plus posterior draws for the `auto` candidates fitted
    on the battles between candidates and the candidates' feedback (another model's sparse record
    cannot make theirs undefined)."""
    battles: dict[tuple[str, str], int] = defaultdict(int)
    for a, b, _, n in counts:
        battles[(a, b) if a < b else (b, a)] += n
    ratings: dict[str, float] = {}
    pairs = pairs_of(counts)
    with contextlib.suppress(RatingUndefinedError):
        ratings = dict(zip(pairs.models, BradleyTerry().fit(pairs).tolist(), strict=True))
    samples = np.empty((0, len(candidates)))
    keep = set(candidates)
    games = [r for r in counts if r[0] in keep and r[1] in keep]
    games += [(m, REFERENCE, w, n) for m, w, n in feedback if m in keep]
    if games:  # without any, the picker treats every candidate as unknown
        prior: list[PairCount] = [(c, REFERENCE, "tie", PRIOR_TIES) for c in candidates]
        mine = pairs_of(games + prior)
        samples = posterior_for(candidates, mine.models, laplace_draws(mine, rounds, seed))
    return Standings(dict(ratings), dict(battles), samples, sum(r[3] for r in counts))


class LivePreferences:
    """Holds `standings` and keeps them fresh; `on_update` gets each new snapshot (on the loop)."""

    def __init__(
        self,
        engine: Engine,
        *,
        candidates: Sequence[str] = (),
        rounds: int = 1000,
        interval_s: float = 30.0,
        on_update: Callable[[Standings], None] | None = None,
    ) -> None:
        self.standings = Standings(samples=np.empty((0, len(candidates))))
        self._engine = engine
        self._candidates = tuple(candidates)
        self._rounds = rounds
        self._on_update = on_update
        self._counts: tuple[list[PairCount], list[FeedbackCount]] | None = None
        self._periodic = Periodic("preferences", self.refresh, interval_s)

    async def refresh(self) -> bool:
        """Re-read the votes and feedback; refit if they changed. True when the standings were replaced."""
        counts = await asyncio.to_thread(pair_counts, self._engine)
        feedback = await asyncio.to_thread(feedback_counts, self._engine) if self._candidates else []
        if (counts, feedback) == self._counts:
            return False
        standings = await asyncio.to_thread(
            compute_standings, counts, self._candidates, self._rounds, 0, feedback
        )
        self._counts, self.standings = (counts, feedback), standings
        if self._on_update is not None:
            self._on_update(standings)
        return True

    def start(self) -> None:
        self._periodic.start()

    async def close(self) -> None:
        await self._periodic.close()
