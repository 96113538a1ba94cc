"""Each routing strategy behind the one seam, `choose(deployments, state)`."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from multimodel.config.schema import DeploymentConfig, Price
from multimodel.providers.base import Provider, ProviderContext
from multimodel.routing.deployment import Deployment
from multimodel.routing.strategies import STRATEGIES, State


def _dep(i: int, weight: float = 1.0, price: float | None = None) -> Deployment:
    config = DeploymentConfig(
        id=f"d{i}",
        provider="openai",
        model="x",
        weight=weight,
        price=None if price is None else Price(input_per_mtok=price, output_per_mtok=price),
    )
    return Deployment(config, Provider(config, ProviderContext(http=None)))  # type: ignore[arg-type]


def _state() -> State:
    return State(now=100.0, rng=random.Random(7))


def test_registry_names() -> None:
    assert set(STRATEGIES) == {"weighted", "least_inflight", "lowest_latency", "lowest_cost"}


def test_weighted_follows_the_weights() -> None:
    deps = [_dep(0, 1), _dep(1, 3), _dep(2, 0)]
    state = _state()
    counts = Counter(STRATEGIES["weighted"](deps, state).id for _ in range(4000))
    assert counts["d2"] == 0
    assert 0.2 < counts["d0"] / 4000 < 0.3  # 1/4 expected
    zero = [_dep(0, 0), _dep(1, 0)]
    assert {STRATEGIES["weighted"](zero, state).id for _ in range(50)} == {"d0", "d1"}


def test_least_inflight_picks_the_idlest_and_spreads_ties() -> None:
    deps = [_dep(0), _dep(1), _dep(2)]
    deps[0].in_flight, deps[1].in_flight, deps[2].in_flight = 3, 1, 1
    state = _state()
    picks = {STRATEGIES["least_inflight"](deps, state).id for _ in range(50)}
    assert picks == {"d1", "d2"}


def test_lowest_latency_uses_the_recent_window_and_explores_unmeasured() -> None:
    deps = [_dep(0), _dep(1), _dep(2)]
    deps[0].latency.add(99.0, 50.0)
    deps[1].latency.add(99.0, 20.0)
    deps[2].latency.add(99.0, 80.0)
    state = _state()
    assert STRATEGIES["lowest_latency"](deps, state).id == "d1"
    deps[1].latency.add(99.5, 200.0)  # its mean is now 110 ms
    assert STRATEGIES["lowest_latency"](deps, state).id == "d0"
    state.now = 100.0 + 3600  # an hour later every sample has left the window: all unmeasured
    assert {STRATEGIES["lowest_latency"](deps, state).id for _ in range(60)} == {"d0", "d1", "d2"}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_single_deployment_is_always_chosen(strategy: str) -> None:
    dep = _dep(0)
    assert STRATEGIES[strategy]([dep], _state()) is dep


def test_lowest_cost_prefers_the_cheapest_and_counts_unpriced_as_free() -> None:
    deps = [_dep(0, price=2.0), _dep(1, price=0.5), _dep(2, price=1.0)]
    assert STRATEGIES["lowest_cost"](deps, _state()).id == "d1"
    deps.append(_dep(3))
    assert STRATEGIES["lowest_cost"](deps, _state()).id == "d3"
