"""The circuit breaker's states, driven by explicit times."""

from __future__ import annotations

from multimodel.config.schema import Breaker
from multimodel.routing.breaker import CircuitBreaker


def test_opens_after_n_failures_within_the_window_only() -> None:
    b = CircuitBreaker(Breaker(failures=3, window_s=10, cooldown_s=5))
    b.failure(0.0, probe=False)
    b.failure(1.0, probe=False)
    b.failure(12.0, probe=False)  # the first two have left the window
    assert b.state(12.0) == "closed" and b.available(12.0)
    b.failure(13.0, probe=False)
    assert b.state(13.0) == "closed"
    b.failure(14.0, probe=False)  # three within 10 s
    assert b.state(14.0) == "open" and not b.available(14.0) and b.opened == 1
    assert b.retry_in(15.0) == 4.0


def test_half_open_lets_exactly_one_probe_through() -> None:
    b = CircuitBreaker(Breaker(failures=1, window_s=10, cooldown_s=5))
    b.failure(0.0, probe=False)
    assert not b.available(4.9)
    assert b.available(5.0) and b.state(5.0) == "half_open"
    assert b.begin() is True  # the probe
    assert not b.available(5.1)  # nobody else while it is in flight
    b.failure(6.0, probe=True)  # still down: a fresh cooldown
    assert b.state(6.0) == "open" and not b.available(10.9) and b.available(11.0)
    assert b.begin() is True
    b.success(probe=True)
    assert b.state(11.5) == "closed" and b.closed == 1 and b.begin() is False


def test_stragglers_do_not_move_an_open_breaker_and_an_abandoned_probe_frees_the_slot() -> None:
    b = CircuitBreaker(Breaker(failures=1, window_s=10, cooldown_s=5))
    b.failure(0.0, probe=False)
    b.failure(4.0, probe=False)  # a request that started before it opened
    b.success(probe=False)
    assert b.state(4.0) == "open" and b.available(5.0)
    assert b.begin()
    b.abandon(probe=True)  # the client left before the probe told anything
    assert b.available(5.0) and b.begin()
