"""A public model's reliability policy, from its config entry: which deployment answers
(strategy), what happens when one fails (retries, fallbacks), and how long a request may take.

Everything here is opt-in: a model entry without these fields behaves as before (one
deployment, one upstream call per request, no breaker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multimodel.errors import CONDITIONS, Condition, ConfigError

POLICY_KEYS = {"strategy", "fallbacks", "fallback_on", "retries", "deadline_s", "breaker"}


@dataclass(frozen=True, slots=True)
class Retries:
    attempts: int = 0  # tries after the first one has failed (0: never retry)
    backoff_s: float = 0.5  # the first wait; doubled each time, with jitter
    max_backoff_s: float = 8.0  # the longest wait, also for a `retry-after` (longer: fall back instead)


@dataclass(frozen=True, slots=True)
class Breaker:
    failures: int = 5  # this many failures of a deployment within window_s ...
    window_s: float = 30.0
    cooldown_s: float = 30.0  # ... take it out of rotation this long, then let one probe through


@dataclass(frozen=True, slots=True)
class Policy:
    strategy: str = "weighted"
    fallbacks: tuple[str, ...] = ()  # other public models, tried in order
    fallback_on: frozenset[Condition] = frozenset(CONDITIONS)
    retries: Retries = Retries()
    deadline_s: float | None = None  # the whole request: every attempt, wait and fallback
    breaker: Breaker | None = None


def parse_policy(raw: dict[str, Any], where: str) -> Policy:
    """The policy fields of one model entry; `where` names the model in ConfigErrors."""
    from multimodel.routing.strategies import STRATEGIES

    strategy = raw.get("strategy", "weighted")
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}: field 'strategy' must be one of {', '.join(STRATEGIES)}")
    fallbacks = raw.get("fallbacks") or []
    if not isinstance(fallbacks, list) or not all(isinstance(f, str) and f for f in fallbacks):
        raise ConfigError(f"{where}: field 'fallbacks' must be a list of model names")
    if len(set(fallbacks)) != len(fallbacks):
        raise ConfigError(f"{where}: field 'fallbacks' lists a model twice")
    on = raw.get("fallback_on", list(CONDITIONS))
    if not isinstance(on, list) or any(c not in CONDITIONS for c in on):
        raise ConfigError(f"{where}: field 'fallback_on' must be a list of: {', '.join(CONDITIONS)}")
    deadline = raw.get("deadline_s")
    if deadline is not None:
        deadline = _number(deadline, where, "deadline_s", positive=True)
    return Policy(
        strategy=strategy,
        fallbacks=tuple(fallbacks),
        fallback_on=frozenset(on),
        retries=_retries(raw.get("retries"), where),
        deadline_s=deadline,
        breaker=_breaker(raw.get("breaker"), where),
    )


def _retries(raw: Any, where: str) -> Retries:
    if raw is None:
        return Retries()
    fields = _mapping(raw, where, "retries", ("attempts", "backoff_s", "max_backoff_s"))
    d = Retries()
    attempts = fields.get("attempts", d.attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 0 <= attempts <= 10:
        raise ConfigError(f"{where}: field 'retries.attempts' must be an integer from 0 to 10")
    backoff = _number(fields.get("backoff_s", d.backoff_s), where, "retries.backoff_s")
    longest = _number(fields.get("max_backoff_s", d.max_backoff_s), where, "retries.max_backoff_s")
    if longest < backoff:
        raise ConfigError(f"{where}: field 'retries.max_backoff_s' must be at least retries.backoff_s")
    return Retries(attempts, backoff, longest)


def _breaker(raw: Any, where: str) -> Breaker | None:
    if raw is None:
        return None
    fields = _mapping(raw, where, "breaker", ("failures", "window_s", "cooldown_s"))
    d = Breaker()
    failures = fields.get("failures", d.failures)
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise ConfigError(f"{where}: field 'breaker.failures' must be an integer at least 1")
    return Breaker(
        failures,
        _number(fields.get("window_s", d.window_s), where, "breaker.window_s", positive=True),
        _number(fields.get("cooldown_s", d.cooldown_s), where, "breaker.cooldown_s", positive=True),
    )


def _mapping(raw: Any, where: str, name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: field {name!r} must be a mapping ({', '.join(keys)})")
    unknown = set(raw) - set(keys)
    if unknown:
        raise ConfigError(f"{where}: unknown field '{name}.{sorted(unknown)[0]}'")
    return raw


def _number(v: Any, where: str, name: str, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or (positive and v == 0):
        raise ConfigError(f"{where}: field {name!r} must be a number {'above' if positive else 'at least'} 0")
    return float(v)
