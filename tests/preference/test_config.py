"""The `preference` config section: defaults, and one-line errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from multimodel.errors import ConfigError
from multimodel.settings import AutoSettings, PreferenceSettings, auto_candidates, parse

MODELS = [
    {
        "name": "cheap",
        "provider": "openai",
        "model": "x",
        "price": {"input_per_mtok": 1, "output_per_mtok": 2},
    },
    {
        "name": "dear",
        "provider": "openai",
        "model": "y",
        "price": {"input_per_mtok": 10, "output_per_mtok": 40},
    },
    {"name": "free", "provider": "openai", "model": "z"},
]


def settings(preference: Any) -> Any:
    return parse({"models": MODELS, "preference": preference}, {}, source="c.yaml")


def test_defaults() -> None:
    s = parse({"models": MODELS}, {})
    assert s.preference == PreferenceSettings(arena_pool=("cheap", "dear", "free"))
    assert s.preference.auto is None and s.preference.refresh_seconds == 30
    assert (s.preference.votes_per_user_per_day, s.preference.max_battle_age_hours) == (200, 24)


def test_a_full_section() -> None:
    p = settings(
        {
            "arena_pool": ["cheap", "dear"],
            "auto": {
                "name": "best",
                "candidates": ["cheap", "dear", "free"],
                "floor": 0.1,
                "max_price_per_mtok": 20,
                "refresh_seconds": 0.5,
            },
            "votes_per_user_per_day": 5,
            "votes_per_key_per_day": 7,
            "battles_per_key_per_day": 9,
            "max_battle_age_hours": 0.5,
            "bootstrap_rounds": 200,
        }
    ).preference
    assert p.arena_pool == ("cheap", "dear") and p.refresh_seconds == 0.5
    assert (p.votes_per_key_per_day, p.battles_per_key_per_day) == (7, 9)
    assert p.auto == AutoSettings("best", ("cheap", "dear", "free"), 0.1, 20.0, 0.5)
    assert auto_candidates(p.auto, parse({"models": MODELS}, {}).models) == ("cheap", "free")  # dear: 50/mtok


@pytest.mark.parametrize(
    ("preference", "words"),
    [
        ([1], ["preference", "mapping"]),
        ({"pool": []}, ["unknown field 'pool'"]),
        ({"arena_pool": ["cheap", "nope"]}, ["'arena_pool'", "'nope'"]),
        ({"arena_pool": ["cheap"]}, ["'arena_pool'", "two models"]),
        ({"arena_pool": ["cheap", "cheap"]}, ["'arena_pool'", "twice"]),
        ({"votes_per_user_per_day": 0}, ["'votes_per_user_per_day'", "at least 1"]),
        ({"votes_per_user_per_day": 1.5}, ["'votes_per_user_per_day'", "integer"]),
        ({"votes_per_key_per_day": 0}, ["'votes_per_key_per_day'", "at least 1"]),
        ({"battles_per_key_per_day": "lots"}, ["'battles_per_key_per_day'"]),
        ({"max_battle_age_hours": "1d"}, ["'max_battle_age_hours'", "number"]),
        ({"max_battle_age_hours": 0}, ["'max_battle_age_hours'", "above 0"]),
        ({"bootstrap_rounds": 0}, ["'bootstrap_rounds'"]),
        ({"auto": []}, ["'auto'", "mapping"]),
        ({"auto": {"candidates": ["cheap"], "colour": 1}}, ["'auto.colour'"]),
        ({"auto": {}}, ["'auto.candidates'"]),
        ({"auto": {"candidates": ["cheap", "gone"]}}, ["'auto.candidates'", "'gone'"]),
        ({"auto": {"name": "cheap", "candidates": ["dear"]}}, ["'auto.name'", "'cheap'"]),
        ({"auto": {"candidates": ["cheap"], "floor": 1.5}}, ["'auto.floor'"]),
        ({"auto": {"candidates": ["cheap", "dear", "free"], "floor": 0.4}}, ["'auto.floor'", "more than 1"]),
        ({"auto": {"candidates": ["dear"], "max_price_per_mtok": 10}}, ["'auto.max_price_per_mtok'"]),
        ({"auto": {"candidates": ["cheap"], "refresh_seconds": 0}}, ["'auto.refresh_seconds'"]),
    ],
)
def test_errors_are_one_line_naming_the_field(preference: Any, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        settings(preference)
    message = str(e.value)
    assert message.startswith("c.yaml: preference") and "\n" not in message
    for word in words:
        assert word in message
