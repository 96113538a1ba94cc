"""The preference engine's statistics: battles -> pair counts -> ratings, intervals, ranks.

Pure functions on numpy arrays; no database and no I/O beyond the battles file readers.

    battles        Battle, and the Chatbot Arena battles file format (read/write)
    pairs          battles aggregated to per-pair outcome counts (Pairs)
    bradley_terry  the exact Bradley–Terry MLE on the Elo scale; anchoring the level
    bootstrap      bootstrap samples, percentile intervals, ranks
    leaderboard    the leaderboard rows and their table/JSON/CSV forms
    satisfaction   thumbs-up rates (Wilson intervals) and mean scores
    thompson       the `auto` model's Thompson-sampling picker

A rating method is one seam with one method, `fit(pairs) -> ratings` (Elo scale, mean 1000,
in the order of `pairs.models`), registered by name in METHODS. A method may also offer
`fit_batch(pairs, cells, start)`, which the bootstrap then uses to refit many rounds at once.
(Submodules are not re-exported here: `bootstrap` and `leaderboard` name both a module and
its main function.)
"""

from __future__ import annotations

from typing import Protocol

from multimodel.preference.bradley_terry import BradleyTerry
from multimodel.preference.pairs import FloatArray, Pairs


class RatingMethod(Protocol):
    def fit(self, pairs: Pairs) -> FloatArray: ...


METHODS: dict[str, RatingMethod] = {BradleyTerry.name: BradleyTerry()}
