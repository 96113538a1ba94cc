"""The `preference` config section: defaults, and one-line errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from multimodel.config.schema import AutoSettings, ConfigError, PreferenceSettings, parse

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
    return parse({"models": MODELS, "preference": preference}, source="c.yaml")


def test_defaults() -> None:
    s = parse({"models": MODELS})
    assert s.preference == PreferenceSettings() and s.arena_pool == ("cheap", "dear", "free")
    assert s.preference.auto is None and s.preference.refresh_seconds == 30
    assert (s.preference.votes_per_user_per_day, s.preference.max_battle_age_hours) == (200, 24)


def test_a_full_section() -> None:
    s = settings(
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
    )
    p = s.preference
    assert p.arena_pool == ("cheap", "dear") and p.refresh_seconds == 0.5
    assert (p.votes_per_key_per_day, p.battles_per_key_per_day) == (7, 9)
    assert p.auto == AutoSettings(
        name="best",
        candidates=("cheap", "dear", "free"),
        floor=0.1,
        max_price_per_mtok=20.0,
        refresh_seconds=0.5,
    )
    assert s.auto_candidates == ("cheap", "free")  # dear: 50/mtok


@pytest.mark.parametrize(
    ("preference", "words"),
    [
        ([1], ["preference", "mapping"]),
        ({"pool": []}, ["unknown key 'pool' in preference"]),
        ({"arena_pool": ["cheap", "nope"]}, ["preference.arena_pool", "'nope'"]),
        ({"arena_pool": ["cheap"]}, ["preference.arena_pool", "at least 2"]),
        ({"arena_pool": ["cheap", "cheap"]}, ["preference.arena_pool", "twice"]),
        ({"votes_per_user_per_day": 0}, ["preference.votes_per_user_per_day", "greater than or equal to 1"]),
        ({"votes_per_user_per_day": 1.5}, ["preference.votes_per_user_per_day", "integer"]),
        ({"votes_per_key_per_day": 0}, ["preference.votes_per_key_per_day", "greater than or equal to 1"]),
        ({"battles_per_key_per_day": "lots"}, ["preference.battles_per_key_per_day"]),
        ({"max_battle_age_hours": "1d"}, ["preference.max_battle_age_hours", "number"]),
        ({"max_battle_age_hours": 0}, ["preference.max_battle_age_hours", "greater than 0"]),
        ({"bootstrap_rounds": 0}, ["preference.bootstrap_rounds"]),
        ({"auto": []}, ["preference.auto", "mapping"]),
        ({"auto": {"candidates": ["cheap"], "colour": 1}}, ["'colour' in preference.auto"]),
        ({"auto": {}}, ["preference.auto", "'candidates'"]),
        ({"auto": {"candidates": ["cheap", "gone"]}}, ["preference.auto.candidates", "'gone'"]),
        ({"auto": {"name": "cheap", "candidates": ["dear"]}}, ["preference.auto.name", "'cheap'"]),
        ({"auto": {"candidates": ["cheap"], "floor": 1.5}}, ["preference.auto.floor"]),
        (
            {"auto": {"candidates": ["cheap", "dear", "free"], "floor": 0.4}},
            ["preference.auto.floor", "more than 1"],
        ),
        (
            {"auto": {"candidates": ["dear"], "max_price_per_mtok": 10}},
            ["preference.auto.max_price_per_mtok"],
        ),
        ({"auto": {"candidates": ["cheap"], "refresh_seconds": 0}}, ["preference.auto.refresh_seconds"]),
    ],
)
def test_errors_are_one_line_naming_the_field(preference: Any, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        settings(preference)
    message = str(e.value)
    assert message.startswith("c.yaml: ") and "preference" in message and "\n" not in message
    for word in words:
        assert word in message
