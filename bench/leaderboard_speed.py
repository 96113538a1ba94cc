"""Leaderboard speed: 1.7 million battles among 130 models, fit plus 1,000 bootstrap rounds.

    python bench/leaderboard_speed.py              # the full run; target: fit + bootstrap < 10 s
    python bench/leaderboard_speed.py --battles 200000 --rounds 200   # a quick look

Battles are drawn from known Elo ratings (uniformly random pairs; up to 10% ties and 5% both-bad
in even matchups, fewer in lopsided ones; the rest decided so that, with a tie worth half a win,
A's expected score is exactly the Bradley–Terry probability),
so the run also reports how far the fit lands from the truth. Timed separately: aggregation
(vectorised, from integer-coded battles; and from Battle objects, the path a battles file takes),
the point fit, and the bootstrap.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from multimodel.preference.battles import WINNERS, Battle
from multimodel.preference.bootstrap import bootstrap, intervals
from multimodel.preference.bradley_terry import BradleyTerry, set_level
from multimodel.preference.pairs import aggregate, aggregate_codes

TARGET_S = 10.0


def synthetic(models: int, battles: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = 1000 + rng.normal(0, 150, models)
    a = rng.integers(0, models, battles)
    b = rng.integers(0, models - 1, battles)
    b += b >= a  # a != b, uniform over the other models
    p = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
    even = 4 * p * (1 - p)  # 1 for an even matchup
    tie, bothbad = 0.10 * even, 0.05 * even
    # Decisive outcomes at odds q chosen so that wins + half the ties average p, as the model says;
    # q stays within [0, 1] because the tie rate shrinks with min(p, 1 - p).
    q = (p - (tie + bothbad) / 2) / (1 - tie - bothbad)
    u = rng.random(battles)
    outcome = np.where(u < tie, 2, np.where(u < tie + bothbad, 3, np.where(rng.random(battles) < q, 0, 1)))
    return true, a, b, outcome


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=int, default=130)
    parser.add_argument("--battles", type=int, default=1_700_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-objects", action="store_true", help="skip aggregation from Battle objects")
    args = parser.parse_args()

    true, a, b, outcome = synthetic(args.models, args.battles, args.seed)
    names = [f"model-{k:03d}" for k in range(args.models)]
    print(f"{args.battles:,} battles among {args.models} models, {args.rounds} bootstrap rounds")

    t0 = time.perf_counter()
    pairs = aggregate_codes(names, a, b, outcome)
    t_aggregate = time.perf_counter() - t0
    print(f"aggregate (vectorised):      {t_aggregate:6.2f} s  ({len(pairs.i):,} pairs)")

    if not args.skip_objects:
        battles = [
            Battle(names[x], names[y], WINNERS[o])
            for x, y, o in zip(a.tolist(), b.tolist(), outcome.tolist(), strict=True)
        ]
        t0 = time.perf_counter()
        from_objects = aggregate(battles)
        t_objects = time.perf_counter() - t0
        assert np.array_equal(from_objects.cells(), pairs.cells())
        print(f"aggregate (Battle objects):  {t_objects:6.2f} s  (not in the total)")
        del battles

    method = BradleyTerry()
    t0 = time.perf_counter()
    point = method.fit(pairs)
    t_fit = time.perf_counter() - t0
    print(f"fit:                         {t_fit:6.2f} s")

    t0 = time.perf_counter()
    samples = bootstrap(pairs, args.rounds, args.seed, method=method, start=point)
    t_boot = time.perf_counter() - t0
    print(f"bootstrap ({args.rounds} rounds):     {t_boot:6.2f} s")

    total = t_aggregate + t_fit + t_boot
    verdict = "under" if total < TARGET_S else "OVER"
    print(f"total (aggregate + fit + bootstrap): {total:.2f} s, {verdict} the {TARGET_S:.0f} s target")

    rating = set_level(point, names, None)
    truth = set_level(true, names, None)
    lo, hi = intervals(samples)
    covered = int(((lo <= truth) & (truth <= hi)).sum())
    print(
        f"fit vs truth: max |error| {np.abs(rating - truth).max():.1f} points; "
        f"mean 95% CI width {np.mean(hi - lo):.1f}; truth inside its CI for {covered}/{args.models} models"
    )


if __name__ == "__main__":
    main()
