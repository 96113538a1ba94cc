"""The second table: per-model satisfaction from single-answer feedback (thumbs and 1-5 scores).

Thumbs give a rate with a Wilson score interval, which unlike the normal approximation stays
inside [0, 1] and is honest for small counts; scores give a mean and its count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from multimodel.preference.leaderboard import text_table

FeedbackKind = Literal["thumbs", "score"]
Z_95 = 1.96


class Feedback(NamedTuple):
    """One record. Thumbs: value 1 (or True) up, 0 (or False) down. Score: an integer 1-5.
    A plain `(model, kind, value)` tuple is accepted wherever a Feedback is."""

    model: str
    kind: FeedbackKind
    value: int


@dataclass(frozen=True, slots=True)
class SatisfactionRow:
    model: str
    thumbs_up: int
    thumbs: int
    rate: float | None  # None without thumbs
    rate_low: float | None
    rate_high: float | None
    mean_score: float | None  # None without scores
    scores: int


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes}/{n}")
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z2n / (4 * n))
    # Clamp rounding noise: the exact bounds are 0 and 1 when p is.
    return max(0.0, centre - half), min(1.0, centre + half)


def satisfaction(records: Iterable[tuple[str, str, int | bool]], z: float = Z_95) -> list[SatisfactionRow]:
    """Rows sorted by the lower bound of the thumbs-up rate (best first), then by mean score;
    models with no thumbs come last."""
    up: dict[str, int] = defaultdict(int)
    thumbs: dict[str, int] = defaultdict(int)
    score_sum: dict[str, int] = defaultdict(int)
    scores: dict[str, int] = defaultdict(int)
    for model, kind, value in records:
        if kind == "thumbs":
            if value not in (0, 1):
                raise ValueError(f"thumbs value for {model!r} must be 1 (up) or 0 (down), got {value!r}")
            up[model] += int(value)
            thumbs[model] += 1
        elif kind == "score":
            if isinstance(value, bool) or value not in range(1, 6):
                raise ValueError(f"score for {model!r} must be an integer 1-5, got {value!r}")
            score_sum[model] += int(value)
            scores[model] += 1
        else:
            raise ValueError(f"feedback kind must be 'thumbs' or 'score', got {kind!r}")
    rows = []
    for model in sorted(thumbs.keys() | scores.keys()):
        n = thumbs[model]
        low, high = wilson(up[model], n, z) if n else (None, None)
        rows.append(
            SatisfactionRow(
                model,
                up[model],
                n,
                up[model] / n if n else None,
                low,
                high,
                score_sum[model] / scores[model] if scores[model] else None,
                scores[model],
            )
        )
    return sorted(rows, key=lambda r: (r.rate_low is None, -(r.rate_low or 0.0), -(r.mean_score or 0.0)))


def format_satisfaction(rows: Iterable[SatisfactionRow]) -> str:
    header = ("Model", "Thumbs up", "Rate", "95% CI", "Mean score", "Scores")
    body = [
        (
            r.model,
            f"{r.thumbs_up}/{r.thumbs}",
            "-" if r.rate is None else f"{100 * r.rate:.1f}%",
            "-"
            if r.rate_low is None or r.rate_high is None
            else f"{100 * r.rate_low:.1f}-{100 * r.rate_high:.1f}%",
            "-" if r.mean_score is None else f"{r.mean_score:.2f}",
            str(r.scores),
        )
        for r in rows
    ]
    return text_table(header, body)
