"""The preference engine closing its loop: simulated users with known tastes, the `auto` route
learning from their arena votes and from their thumbs on its answers.

    python bench/auto_simulation.py                    # prints a summary, writes docs/auto-traffic.png
    python bench/auto_simulation.py --votes 10000 --out traffic.png

Four models have true Elo ratings 1000 / 1100 / 1200 / 1300. Each step one simulated user casts
one vote: either in an arena battle (the pair drawn by multimodel.preference.pairing, the outcome
by Bradley–Terry on the true ratings, 10% ties), or as a thumbs up/down on an answer of the `auto`
route (the candidate picked by multimodel.routing.auto.AutoRoute; P(up) = the chance of beating
a model rated at the mean, 1150). Every `refresh_every` votes the standings are recomputed from
the battles and thumbs so far with the gateway's own code (multimodel.preference.live.
compute_standings), as the gateway's background refresher does, and the picker is swapped.
`--arena-share 0` runs on thumbs alone.

Regret per `auto` answer is the expected thumbs-up probability lost against a policy that knows
the truth, given the picker of the moment (its pick shares, as the bandit literature's
pseudo-regret; the realised coin flips would only add noise). Two are reported: against always
answering with the best model (`regret`), and against the best policy that keeps the exploration
floors (`regret_vs_floor`): the floors cost a constant share by design, so only the second can
grow sub-linearly. tests/preference/test_simulation.py runs the same `simulate`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multimodel.preference.battles import Battle, Winner
from multimodel.preference.live import Standings, compute_standings
from multimodel.preference.pairing import draw_pair, win_probability
from multimodel.preference.satisfaction import SatisfactionRow, satisfaction
from multimodel.routing.auto import AutoRoute

TRUE_ELO = {"tiny": 1000.0, "small": 1100.0, "medium": 1200.0, "large": 1300.0}
REFERENCE = float(np.mean(list(TRUE_ELO.values())))
OUT = Path(__file__).resolve().parent.parent / "docs" / "auto-traffic.png"


def p_up(rating: float) -> float:
    return win_probability(rating, REFERENCE)


@dataclass
class Run:
    models: tuple[str, ...]
    true: np.ndarray
    floor: float
    picks: np.ndarray  # per auto answer: the model's index
    regret: np.ndarray  # per auto answer, expected, against always the best model
    regret_vs_floor: np.ndarray  # per auto answer, expected, against the best floor-keeping policy
    battles: list[Battle]
    thumbs: list[tuple[str, str, int]]  # (model, "thumbs", 1 | 0)
    standings: Standings  # the last refresh

    def shares(self, window: int) -> np.ndarray:
        """Traffic share per model (columns) in consecutive windows of `window` auto answers."""
        n = len(self.picks) // window
        onehot = np.eye(len(self.models))[self.picks[: n * window]]
        return onehot.reshape(n, window, len(self.models)).mean(axis=1)

    def total_shares(self) -> dict[str, float]:
        counts = np.bincount(self.picks, minlength=len(self.models)) / len(self.picks)
        return dict(zip(self.models, counts.tolist(), strict=True))

    def fitted_ranking(self) -> list[str]:
        return sorted(self.standings.ratings, key=lambda m: -self.standings.ratings[m])

    def true_ranking(self) -> list[str]:
        return [self.models[k] for k in np.argsort(-self.true)]

    def satisfaction(self) -> list[SatisfactionRow]:
        return satisfaction(self.thumbs)

    @staticmethod
    def halves(per_step: np.ndarray) -> tuple[float, float]:
        half = len(per_step) // 2
        return float(per_step[:half].sum()), float(per_step[half : 2 * half].sum())


def simulate(
    votes: int = 4000,
    *,
    arena_share: float = 0.5,
    refresh_every: int = 100,
    floor: float = 0.05,
    rounds: int = 500,
    tie_rate: float = 0.1,
    seed: int = 0,
) -> Run:
    rng = np.random.default_rng(seed)
    models = tuple(TRUE_ELO)
    true = np.array([TRUE_ELO[m] for m in models])
    up = np.array([p_up(r) for r in true])
    # The best policy that keeps the floors: every floor, and the rest on the best model.
    floor_policy = up.max() * (1 - floor * len(models)) + floor * up.sum()
    auto = AutoRoute("auto", models, floor, rng=seed + 1)
    standings = Standings()
    counts: Counter[tuple[str, str, Winner]] = Counter()
    feedback: Counter[tuple[str, Winner]] = Counter()  # thumbs as games against a satisfactory answer
    battles: list[Battle] = []
    picks: list[int] = []
    expected: list[float] = []  # per auto answer: the thumbs-up probability of the current picker
    thumbs: list[tuple[str, str, int]] = []
    reward = _expected_reward(auto, up)
    for step in range(1, votes + 1):
        if rng.random() < arena_share:
            a, b = draw_pair(models, standings, rng)
            winner = _outcome(TRUE_ELO[a], TRUE_ELO[b], tie_rate, rng)
            counts[(a, b, winner)] += 1
            battles.append(Battle(a, b, winner))
        else:
            k = models.index(auto.pick())
            picks.append(k)
            expected.append(reward)
            liked = rng.random() < up[k]
            thumbs.append((models[k], "thumbs", int(liked)))
            feedback[(models[k], "model_a" if liked else "model_b")] += 1
        if step % refresh_every == 0:
            rows = sorted((a, b, w, n) for (a, b, w), n in counts.items())
            fb = sorted((m, w, n) for (m, w), n in feedback.items())
            standings = compute_standings(rows, models, rounds, seed=step, feedback=fb)
            auto.update(standings.samples)
            reward = _expected_reward(auto, up)
    mean_up = np.array(expected)
    return Run(
        models,
        true,
        floor,
        np.array(picks, dtype=np.int64),
        up.max() - mean_up,
        floor_policy - mean_up,
        battles,
        thumbs,
        standings,
    )


def _expected_reward(auto: AutoRoute, up: np.ndarray) -> float:
    shares = auto.shares()
    return float(sum(shares[m] * up[k] for k, m in enumerate(auto.candidates)))


def _outcome(ra: float, rb: float, tie_rate: float, rng: np.random.Generator) -> Winner:
    """A tie at `tie_rate`, else A wins at odds that make A's expected score (a tie worth half)
    exactly the Bradley–Terry probability."""
    if rng.random() < tie_rate:
        return "tie"
    q = (win_probability(ra, rb) - tie_rate / 2) / (1 - tie_rate)
    return "model_a" if rng.random() < q else "model_b"


def plot(run: Run, path: Path, window: int = 100) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shares = run.shares(window)
    x = (np.arange(len(shares)) + 1) * window
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True, height_ratios=[3, 2])
    for k in np.argsort(-run.true):
        top.plot(x, shares[:, k], marker=".", label=f"{run.models[k]} (true Elo {run.true[k]:.0f})")
    top.axhline(run.floor, color="grey", linestyle=":", linewidth=1, label=f"floor {run.floor:g}")
    top.set_ylabel(f"traffic share (per {window} answers)")
    top.set_ylim(0, 1)
    top.legend(loc="center right", fontsize=8)
    top.set_title("`auto` route: Thompson sampling over arena votes and thumbs")
    steps = np.arange(1, len(run.regret) + 1)
    bottom.plot(steps, np.cumsum(run.regret), label="vs always the best model")
    bottom.plot(steps, np.cumsum(run.regret_vs_floor), label="vs the best policy keeping the floors")
    bottom.set_xlabel("`auto` answers")
    bottom.set_ylabel("cumulative regret\n(thumbs-ups lost)")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--votes", type=int, default=4000)
    parser.add_argument("--floor", type=float, default=0.05)
    parser.add_argument("--arena-share", type=float, default=0.5, help="share of votes cast in the arena")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    run = simulate(args.votes, arena_share=args.arena_share, floor=args.floor, seed=args.seed)
    print(f"{args.votes} votes: {len(run.battles)} arena battles, {len(run.picks)} `auto` answers")
    print("traffic share:", {m: round(s, 3) for m, s in run.total_shares().items()})
    print("last window:  ", dict(zip(run.models, run.shares(100)[-1].round(3).tolist(), strict=True)))
    if run.standings.ratings:
        print("fitted (arena):", {m: round(run.standings.ratings[m]) for m in run.fitted_ranking()})
    for name, per_step in (("regret", run.regret), ("regret vs floor policy", run.regret_vs_floor)):
        first, second = run.halves(per_step)
        print(f"{name}: first half {first:.1f}, second half {second:.1f} (ratio {second / first:.2f})")
    plot(run, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
