"""When to try again: the failure condition of an error, and how long to wait before a retry."""

from __future__ import annotations

import email.utils
import random
import time

from multimodel.config.schema import Retries
from multimodel.errors import Condition, GatewayError

# Conditions another try may cure; a too-long prompt is not one of them (only a fallback is).
TRANSIENT: frozenset[Condition] = frozenset(
    {"rate_limit", "server_error", "overloaded", "timeout", "connection"}
)

_BY_KIND: dict[str, Condition] = {
    "rate_limit": "rate_limit",
    "overloaded": "overloaded",
    "timeout": "timeout",
    "upstream": "server_error",  # 5xx and malformed answers; refused connections say "connection"
    "api_error": "server_error",
}


def condition(err: GatewayError) -> Condition | None:
    """The failure condition of a provider error, or None when it is the request's own fault."""
    return err.condition or _BY_KIND.get(err.kind)


def backoff(n: int, retries: Retries, retry_after: str | None, rng: random.Random) -> float | None:
    """Seconds to wait before retry `n` (1-based): exponential with jitter, never sooner than the
    upstream's `retry-after`. None when that is longer than `max_backoff_s`: better to fall back."""
    wait = min(retries.max_backoff_s, retries.backoff_s * 2 ** (n - 1)) * (1 - 0.25 * rng.random())
    asked = retry_after_s(retry_after)
    if asked is None:
        return wait
    return None if asked > retries.max_backoff_s else max(wait, asked)


def retry_after_s(value: str | None) -> float | None:
    """A `retry-after` header in seconds: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
