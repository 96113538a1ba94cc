"""The config schema: strict (no string read as a boolean or a number), unknown keys refused with
the closest known one suggested, every error one line naming its path as the file has it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multimodel.config.schema import ConfigError, Price, Settings, parse
from multimodel.providers.base import ProviderContext
from multimodel.routing.router import Router
from multimodel.types import Usage

HOUSE = str(Path(__file__).resolve().parents[2] / "models" / "house-tiny")
# Every section and field kind, in the file's shape: a model written flat and one with deployments.
FULL: dict[str, Any] = {
    "database": "postgresql://mm:secret@127.0.0.1:5432/mm",
    "log_content": False,
    "host": "0.0.0.0",
    "port": 8080,
    "log_queue_size": 1000,
    "log_content_max_bytes": 4096,
    "client_header_timeout_s": 5,
    "client_body_timeout_s": 7.5,
    "shutdown_grace_s": 10,
    "models": [
        {
            "name": "flat",
            "provider": "openai-compatible",
            "model": "llama",
            "api_base": "http://127.0.0.1:9/v1",
            "api_key_env": "FLAT_KEY",
            "price": {
                "input_per_mtok": 1.0,
                "output_per_mtok": 2,
                "cache_read_per_mtok": 0.1,
                "cache_write_per_mtok": 1.25,
            },
            "timeouts": {"connect": 1, "first_byte": 2.5, "total": 30},
            "options": {"tools": False, "vision": True, "api_version": "2024-10-21", "headers": {"x-a": "b"}},
            "weight": 2,
            "fallbacks": ["listed"],
            "fallback_on": ["timeout", "connection"],
            "deadline_s": 60,
        },
        {
            "name": "listed",
            "strategy": "least_inflight",
            "retries": {"attempts": 2, "backoff_s": 0.1, "max_backoff_s": 1},
            "breaker": {"failures": 3, "window_s": 10, "cooldown_s": 5},
            "deployments": [
                {"id": "a", "provider": "anthropic", "model": "claude", "options": {"default_max_tokens": 9}},
                {"provider": "openai", "model": "gpt", "options": {"max_tokens_field": "max_tokens"}},
            ],
        },
    ],
    "preference": {
        "arena_pool": ["flat", "listed"],
        "auto": {"name": "best", "candidates": ["flat", "listed"], "floor": 0.1, "max_price_per_mtok": 5},
        "votes_per_user_per_day": 10,
        "battles_per_user_per_day": 20,
        "votes_per_key_per_day": 30,
        "battles_per_key_per_day": 40,
        "max_battle_age_hours": 1.5,
        "bootstrap_rounds": 50,
    },
    "auth": {"require_keys": True, "refresh_seconds": 2, "redis_url": "redis://127.0.0.1:6379/0"},
}


def check(raw: Any) -> Settings:
    """What `multimodel config check` does: the schema, then what the registries check."""
    settings = parse(raw, source="c.yaml")
    Router.build(settings, ProviderContext(http=None))  # type: ignore[arg-type]
    return settings


def test_the_full_config_is_read_as_written() -> None:
    s = check(FULL)
    flat, listed = s.models
    assert (s.log_content, s.port, s.auth.require_keys) == (False, 8080, True)
    d = flat.deployments[0]
    assert (d.id, d.weight, d.timeouts.first_byte, d.price and d.price.per_mtok) == ("flat", 2.0, 2.5, 3.0)
    assert flat.policy.fallback_on == ("timeout", "connection") and flat.policy.deadline_s == 60
    assert [d.id for d in listed.deployments] == ["a", "listed#2"]
    assert listed.policy.retries.attempts == 2 and listed.policy.breaker is not None
    assert s.auto_candidates == ("flat", "listed")


def _leaves(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        yield path, node
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path, node


def _wrong(value: Any) -> Any:
    """A value of another kind, of the sort YAML habits produce: numbers and booleans as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return 5
    if isinstance(value, list):
        return "a, b"
    return ["a"]  # a mapping


def _file_path(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


BAD = [(path, _wrong(v)) for path, v in _leaves(FULL) if path]


@pytest.mark.parametrize(("path", "bad"), BAD, ids=[_file_path(p) for p, _ in BAD])
def test_every_field_refuses_a_value_of_another_kind_naming_its_path(
    path: tuple[str | int, ...], bad: Any
) -> None:
    raw = copy.deepcopy(FULL)
    node = raw
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = bad
    with pytest.raises(ConfigError) as e:
        check(raw)
    line = str(e.value)
    assert "\n" not in line and line.startswith("c.yaml: ")
    where = _file_path(path)
    if "options" in path:  # a provider kind's options: the path up to the options, then the key
        where = _file_path(path[: path.index("options") + 1])
    assert where in line, line


def test_the_three_misreadings_are_errors() -> None:
    """`log_content: "false"` was read as true, an options typo ignored, `tools: "no"` read as on."""
    base = {"models": [{"name": "m", "provider": "openai-compatible", "model": "x", "api_base": "http://h"}]}
    with pytest.raises(ConfigError, match=r"log_content: input should be a valid boolean \(got 'false'\)"):
        check(base | {"log_content": "false"})
    typo = copy.deepcopy(base)
    typo["models"].insert(0, {"name": "a", "provider": "openai", "model": "y"})
    typo["models"].insert(0, {"name": "b", "provider": "openai", "model": "y"})
    typo["models"][2]["options"] = {"vison": False, "tools": True}
    with pytest.raises(ConfigError) as e:
        check(typo)
    assert "unknown key 'vison' in models[2].options (model 'm'); did you mean 'vision'?" in str(e.value)
    typo["models"][2]["options"] = {"tools": "no"}
    with pytest.raises(ConfigError, match=r"models\[2\]\.options\.tools \(model 'm'\): input should be"):
        check(typo)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"colour": "blue"}, ["unknown key 'colour' at the top level"]),
        ({"auth": {"require_key": True}}, ["in auth", "did you mean 'require_keys'?"]),
        (
            {"preference": {"auto": {"candidate": ["m"]}}},
            ["in preference.auto", "did you mean 'candidates'?"],
        ),
        ({"models": [{"name": "m", "provider": "openai", "model": "x", "timeout": {}}]}, ["'timeouts'"]),
        (
            {"models": [{"name": "m", "provider": "openai", "model": "x", "retries": {"attempt": 1}}]},
            ["'attempts'"],
        ),
        (
            {"models": [{"name": "m", "provider": "openai", "model": "x", "policy": {}}]},
            ["unknown key 'policy'"],
        ),
    ],
)
def test_an_unknown_key_suggests_the_closest_known_one(raw: dict[str, Any], words: list[str]) -> None:
    raw = {"models": [{"name": "m", "provider": "openai", "model": "x"}]} | raw
    with pytest.raises(ConfigError) as e:
        check(raw)
    for w in words:
        assert w in str(e.value)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"port": 70000}, ["port", "65535"]),
        ({"port": 80.0}, ["port", "integer"]),
        ({"database": "mysql://x"}, ["database", "sqlite:/// or postgresql://"]),
        ({"log_queue_size": 0}, ["log_queue_size", "greater than or equal to 1"]),
        ({"models": []}, ["models", "at least 1"]),
        ({"models": [{"name": "", "provider": "openai", "model": "x"}]}, ["models[0].name"]),
        (
            {"models": [{"name": "m", "provider": "openai", "model": "x", "api_base": "api.openai.com"}]},
            ["models[0].api_base", "http:// or https://"],
        ),
        (
            {"models": [{"name": "m", "provider": "openai", "model": "x", "api_key_env": "sk-123"}]},
            ["models[0].api_key_env", "environment variable's name"],
        ),
        (
            {"models": [{"name": "m", "provider": "openai", "model": "x", "timeouts": {"total": 0}}]},
            ["models[0].timeouts.total", "greater than 0"],
        ),
        (
            {"models": [{"name": "m", "provider": "openai", "model": "x", "price": {"input_per_mtok": -1}}]},
            ["models[0].price.input_per_mtok"],
        ),
        (
            {
                "models": [
                    {"name": "m", "provider": "openai", "model": "x", "price": {"cache_read_per_mtok": -0.1}}
                ]
            },
            ["models[0].price.cache_read_per_mtok"],
        ),
        (
            {
                "models": [
                    {"name": "m", "provider": "openai", "model": "x", "options": {"max_tokens_field": "n"}}
                ]
            },
            ["models[0].options.max_tokens_field", "'max_completion_tokens' or 'max_tokens'"],
        ),
        (
            {"models": [{"name": "m", "provider": "inhouse", "model": HOUSE, "options": {"dtype": "fp8"}}]},
            ["models[0].options.dtype"],
        ),
        ({"auth": {"refresh_seconds": -1}}, ["auth.refresh_seconds"]),
    ],
)
def test_values_out_of_range_name_the_path(change: dict[str, Any], words: list[str]) -> None:
    raw = {"models": [{"name": "m", "provider": "openai", "model": "x"}]} | change
    with pytest.raises(ConfigError) as e:
        check(raw)
    line = str(e.value)
    assert "\n" not in line
    for w in words:
        assert w in line, line


def test_a_price_counts_cache_reads_and_writes_at_their_own_rates() -> None:
    tokens = Usage(input_tokens=1000, output_tokens=300, cache_read_tokens=600, cache_write_tokens=100)
    tokens.reasoning_tokens = 200  # part of the output: priced as output
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0, cache_read_per_mtok=0.5, cache_write_per_mtok=2.5)
    assert price.cost(tokens) == pytest.approx((300 * 2.0 + 600 * 0.5 + 100 * 2.5 + 300 * 8.0) / 1e6)
    plain = Price(input_per_mtok=2.0, output_per_mtok=8.0)  # unset: the input price, as before
    assert plain.cost(tokens) == pytest.approx((1000 * 2.0 + 300 * 8.0) / 1e6)
    flat = check(FULL).models[0].deployments[0].price
    assert flat is not None and (flat.cache_read_per_mtok, flat.cache_write_per_mtok) == (0.1, 1.25)
    assert flat.per_mtok == 3.0  # what routing compares: input + output


def test_settings_are_frozen_and_parse_reads_no_secret() -> None:
    s = check(FULL)  # FLAT_KEY is set nowhere: a key is read when a provider starts, not here
    with pytest.raises(ValueError, match="frozen"):
        s.port = 1  # type: ignore[misc]
    assert not hasattr(s.models[0].deployments[0], "api_key")
