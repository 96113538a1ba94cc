"""The strategy seam: `choose(deployments, state) -> deployment`. The deployments given are the
available ones (breaker closed or ready for its probe), never empty."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from multimodel.routing.deployment import Deployment


@dataclass(slots=True)
class State:
    """What a strategy may read besides the deployments: the time and a random source."""

    now: float = 0.0
    rng: random.Random = field(default_factory=random.Random)


Strategy = Callable[[Sequence[Deployment], State], Deployment]


def pick_lowest(
    deployments: Sequence[Deployment], key: Callable[[Deployment], float], state: State
) -> Deployment:
    """The deployment with the lowest key; ties drawn at random so equals share the load."""
    keys = [key(d) for d in deployments]
    best = min(keys)
    tied = [d for d, k in zip(deployments, keys, strict=True) if k == best]
    return tied[0] if len(tied) == 1 else state.rng.choice(tied)
