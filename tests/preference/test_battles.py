from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodel.preference.battles import (
    Battle,
    BattlesFileError,
    detect_format,
    read_battles,
    write_battles,
)
from multimodel.preference.bradley_terry import fit
from multimodel.preference.pairs import aggregate

BATTLES = [
    Battle("gpt-x", "claude-y", "model_a", "coding"),
    Battle("claude-y", "llama-z", "tie"),
    Battle("llama-z", "gpt-x", "tie (bothbad)", "chat"),
    Battle("gpt-x", "llama-z", "model_b"),
    Battle("claude-y", "gpt-x", "model_b", "coding"),
    Battle("llama-z", "claude-y", "model_a"),
]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_each_format_round_trips(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"battles.{fmt}"
    write_battles(BATTLES, path)
    assert detect_format(path) == fmt
    assert read_battles(path).battles == BATTLES


def test_the_three_formats_give_identical_results(tmp_path: Path) -> None:
    # Arena dumps carry many more fields; they are ignored.
    records = [
        {"question_id": f"q{k}", "model_a": b.model_a, "model_b": b.model_b, "winner": b.winner, "turn": 1}
        for k, b in enumerate(BATTLES)
    ]
    (tmp_path / "b.json").write_text(json.dumps(records, indent=1))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    csv_lines = ["question_id,model_a,model_b,winner,turn"]
    csv_lines += [f"{r['question_id']},{r['model_a']},{r['model_b']},{r['winner']},1" for r in records]
    (tmp_path / "b.csv").write_text("\n".join(csv_lines) + "\n")
    read = [read_battles(tmp_path / name).battles for name in ("b.json", "b.jsonl", "b.csv")]
    assert read[0] == read[1] == read[2]
    assert [b.winner for b in read[0]] == [b.winner for b in BATTLES]
    ratings = [fit(aggregate(battles)).tolist() for battles in read]
    assert ratings[0] == ratings[1] == ratings[2]


def test_a_json_named_file_holding_json_lines_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "arena.json"
    write_battles(BATTLES, path, "jsonl")
    assert detect_format(path) == "jsonl"
    assert read_battles(path).battles == BATTLES


def test_a_bad_winner_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text(
        '{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
        "\n"
        '{"model_a": "a", "model_b": "b", "winner": "model_c"}\n'
    )
    with pytest.raises(BattlesFileError) as e:
        read_battles(path)
    assert str(e.value) == (
        f"{path}: line 3: unknown winner 'model_c' (expected one of: model_a, model_b, tie, tie (bothbad))"
    )


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    path.write_text("model_a,model_b,winner\na,b,tie\nb,a,model_b\na,a,model_a\n")
    with pytest.raises(
        BattlesFileError, match=r"votes\.csv: line 4: model_a and model_b are the same model \('a'\)"
    ):
        read_battles(path)
    path.write_text("model_a,winner\na,tie\n")
    with pytest.raises(BattlesFileError, match=r"votes\.csv: line 1: CSV header lacks column model_b"):
        read_battles(path)


def test_json_errors_name_the_item(tmp_path: Path) -> None:
    path = tmp_path / "votes.json"
    path.write_text(
        json.dumps([{"model_a": "a", "model_b": "b", "winner": "tie"}, {"model_a": "a", "winner": "tie"}])
    )
    with pytest.raises(BattlesFileError, match=r"votes\.json: item 2: missing field model_b"):
        read_battles(path)
    path.write_text('[{"model_a": "a",\n "model_b": }]')
    with pytest.raises(BattlesFileError, match=r"votes\.json: line 2: not valid JSON"):
        read_battles(path)


def test_not_strict_skips_bad_rows_and_lists_them(tmp_path: Path) -> None:
    path = tmp_path / "votes.jsonl"
    path.write_text(
        '{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
        '{"model_a": "a", "model_b": "b", "winner": "draw"}\n'
        "{not json\n"
        '{"model_a": "b", "model_b": "a", "winner": "tie", "category": "math"}\n'
    )
    result = read_battles(path, strict=False)
    assert result.battles == [Battle("a", "b", "model_a"), Battle("b", "a", "tie", "math")]
    assert [m.split(": ")[1] for m in result.skipped] == ["line 2", "line 3"]
    assert "not valid JSON" in result.skipped[1]


def test_a_battle_validates_itself() -> None:
    with pytest.raises(ValueError, match="same model"):
        Battle("a", "a", "tie")
    with pytest.raises(ValueError, match="unknown winner"):
        Battle("a", "b", "draw")  # type: ignore[arg-type]


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BattlesFileError, match=r"nope\.jsonl: cannot read: No such file or directory"):
        read_battles(tmp_path / "nope.jsonl")
