"""`multimodel leaderboard` and `multimodel feedback export`: votes move out of the database as a
Chatbot Arena battles file, and the leaderboard reads either."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from multimodel.cli import main
from multimodel.preference import store
from multimodel.preference.battles import read_battles
from multimodel.preference.store import BattleRow
from multimodel.store import make_engine, upgrade

# (model_a, model_b, winner): "big" wins most, every model has won and lost. Repeated: the
# bootstrap needs a few dozen battles before a resample rarely loses a model's only loss.
ROUND = [
    ("big", "small", "model_a"),
    ("big", "small", "model_a"),
    ("small", "big", "model_a"),
    ("big", "mid", "model_a"),
    ("mid", "big", "tie"),
    ("mid", "small", "model_a"),
    ("small", "mid", "model_a"),
    ("mid", "small", "tie (bothbad)"),
]
VOTES = ROUND * 5


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose database holds VOTES (the keys its models name are not set: not needed)."""
    database = f"sqlite:///{tmp_path / 'votes.db'}"
    engine = make_engine(database)
    upgrade(engine)
    now = time.time()
    for k, (a, b, winner) in enumerate(VOTES):
        category = "code" if k % 2 else None
        caps = store.Caps(len(VOTES), len(VOTES))
        row = BattleRow(f"b{k}", now, a, b, "[]", None, category, "r1", "r2", None)
        assert store.create_battle(engine, row, caps) == "ok"
        assert store.record_vote(engine, f"b{k}", winner, None, None, now, caps) == "recorded"  # type: ignore[arg-type]
    engine.dispose()
    path = tmp_path / "multimodel.yaml"
    models = [
        {"name": n, "provider": "openai", "model": n, "api_key_env": "MM_NOT_SET_ANYWHERE"}
        for n in ("big", "mid", "small")
    ]
    path.write_text(yaml.safe_dump({"database": database, "models": models}))
    return path


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_export_then_leaderboard_from_the_file(config: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"battles.{fmt}"
    code, _, err = cli("feedback", "export", "--out", str(out), "--config", str(config))
    assert code == 0, err
    assert f"wrote {len(VOTES)} battles" in err
    exported = read_battles(out).battles
    assert [(b.model_a, b.model_b, b.winner) for b in exported] == VOTES
    assert [b.category for b in exported] == [None, "code"] * (len(VOTES) // 2)

    code, text, err = cli("leaderboard", "--battles", str(out), "--format", "json", "--rounds", "50")
    assert code == 0, err
    board = json.loads(text)
    assert board["battles"] == len(VOTES) and board["satisfaction"] == [] and board["note"] is None
    assert board["leaderboard"][0]["model"] == "big"


def test_leaderboard_from_the_database(config: Path) -> None:
    code, text, err = cli("leaderboard", "--config", str(config), "--rounds", "50")
    assert code == 0, err
    header, first, *_ = text.splitlines()
    assert header.split()[:3] == ["Rank", "Model", "Rating"] and first.split()[1] == "big"

    code, text, err = cli(
        "leaderboard", "--config", str(config), "--format", "csv", "--anchor", "small=1200", "--rounds", "50"
    )
    assert code == 0, err
    assert text.startswith("rank,model,rating")
    small = next(line for line in text.splitlines() if ",small," in line)
    assert float(small.split(",")[2]) == pytest.approx(1200)

    # The "code" category alone: big never lost there, so there are no ratings, and we say why.
    code, text, err = cli("leaderboard", "--config", str(config), "--category", "code", "--format", "json")
    assert code == 0, err
    assert json.loads(text)["note"].startswith("rating undefined")


def test_bad_arguments_are_one_line_errors(config: Path, tmp_path: Path) -> None:
    code, _, err = cli("leaderboard", "--config", str(config), "--anchor", "big")
    assert code == 2 and "MODEL=RATING" in err
    code, _, err = cli("leaderboard", "--config", str(config), "--anchor", "nobody=1000")
    assert code == 2 and "nobody" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model_a": "x", "model_b": "x", "winner": "tie"}\n')
    code, _, err = cli("leaderboard", "--battles", str(bad))
    assert code == 2 and "line 1" in err


def test_import_moves_a_battles_file_into_the_database_once(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "exported.jsonl"
    assert cli("feedback", "export", "--out", str(out), "--config", str(config))[0] == 0
    # Into a second, empty database: the leaderboard there becomes the first one's.
    other = tmp_path / "other.yaml"
    raw = yaml.safe_load(config.read_text())
    other.write_text(yaml.safe_dump({**raw, "database": f"sqlite:///{tmp_path / 'other.db'}"}))
    code, _, err = cli("feedback", "import", str(out), "--config", str(other))
    assert code == 0 and f"imported {len(VOTES)} battles" in err, err
    code, _, err = cli("feedback", "import", str(out), "--config", str(other))
    assert code == 0 and "imported 0 battles" in err, err
    boards = [
        json.loads(cli("leaderboard", "--config", str(c), "--format", "json", "--rounds", "50")[1])
        for c in (config, other)
    ]
    assert boards[0]["leaderboard"] == boards[1]["leaderboard"]
    assert boards[1]["battles"] == len(VOTES)
    # A broken file is refused with one line, and nothing is written.
    bad = tmp_path / "bad.csv"
    bad.write_text("model_a,model_b,winner\nx,y,nobody\n")
    code, _, err = cli("feedback", "import", str(bad), "--config", str(other))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert json.loads(cli("leaderboard", "--config", str(other), "--format", "json")[1])["battles"] == len(
        VOTES
    )
