"""The `auto` route: a public name that answers each request with one of its candidates.

The choice is Thompson sampling over the candidates' bootstrap ratings (multimodel.preference.
thompson), each candidate keeping a floor share so that its rating stays current. The picker
only reads arrays in memory: the background refresher (multimodel.preference.live) rebuilds it
from the votes and swaps it in with one assignment, so a request never waits on the database.

The response's `model` field names the candidate that answered (feedback then lands on the
right model), the usage row's public_model is that candidate, and its `route` column says the
client asked for `auto`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from multimodel.config.schema import Settings
from multimodel.preference.pairs import FloatArray
from multimodel.preference.thompson import ThompsonPicker

log = logging.getLogger("multimodel")


class AutoRoute:
    def __init__(
        self, name: str, candidates: Sequence[str], floor: float, rng: np.random.Generator | int | None = None
    ) -> None:
        self.name = name
        self.candidates = tuple(candidates)
        self.floor = floor
        self._rng = np.random.default_rng(rng)
        self._picker = self._new_picker(np.empty((0, len(self.candidates))))

    @classmethod
    def from_settings(cls, settings: Settings) -> AutoRoute | None:
        auto = settings.preference.auto
        if auto is None:
            return None
        candidates = settings.auto_candidates
        skipped = [c for c in auto.candidates if c not in candidates]
        if skipped:
            log.info("route %r: skipping %s (over max_price_per_mtok)", auto.name, ", ".join(skipped))
        return cls(auto.name, candidates, auto.floor)

    def pick(self) -> str:
        return self._picker.pick()

    def shares(self) -> dict[str, float]:
        return self._picker.shares()

    def update(self, samples: FloatArray) -> None:
        """New bootstrap samples (rounds x candidates); no rows means no data yet."""
        self._picker = self._new_picker(samples)

    def _new_picker(self, samples: FloatArray) -> ThompsonPicker:
        return ThompsonPicker(self.candidates, samples, self.floor, self._rng)
