"""The reliability config: backward compatible, validated at start-up with one line naming the
model and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from multimodel.config.schema import CONDITIONS, Breaker, ConfigError, Policy, Retries, Timeouts, parse
from multimodel.providers.base import ProviderContext
from multimodel.routing.router import Router
from tests.cli.test_config_errors import _serve


def _models(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"models": list(entries)}


def test_a_plain_entry_is_one_deployment_with_everything_off() -> None:
    s = parse(_models({"name": "m", "provider": "openai", "model": "gpt-4o", "api_key_env": "KEY_A"}))
    m = s.models[0]
    assert [(d.id, d.provider, d.model, d.api_key_env) for d in m.deployments] == [
        ("m", "openai", "gpt-4o", "KEY_A")
    ]
    assert m.policy == Policy() and m.policy.retries.attempts == 0 and m.policy.breaker is None
    assert m.policy.fallback_on == CONDITIONS


def test_deployments_and_policy() -> None:
    raw = _models(
        {
            "name": "gpt",
            "strategy": "least_inflight",
            "fallbacks": ["claude"],
            "fallback_on": ["rate_limit", "context_length"],
            "retries": {"attempts": 2, "backoff_s": 0.1, "max_backoff_s": 2},
            "deadline_s": 30,
            "breaker": {"failures": 3, "window_s": 10, "cooldown_s": 5},
            "deployments": [
                {"provider": "openai", "model": "gpt-4o", "api_key_env": "KEY_A", "weight": 3},
                {
                    "id": "azure",
                    "provider": "openai-compatible",
                    "model": "dep",
                    "api_base": "https://x.example/",
                    "api_key_env": "KEY_B",
                    "timeouts": {"connect": 1, "first_byte": 2, "total": 3},
                    "options": {"api_version": "2024-10-21"},
                },
            ],
        },
        {"name": "claude", "provider": "anthropic", "model": "claude-haiku-4-5"},
    )
    gpt = parse(raw).models[0]
    first, azure = gpt.deployments
    assert (first.id, first.provider, first.model, first.weight, first.api_key_env) == (
        "gpt#1",
        "openai",
        "gpt-4o",
        3.0,
        "KEY_A",
    )
    assert azure.id == "azure" and azure.api_key_env == "KEY_B" and azure.base == "https://x.example"
    assert azure.timeouts == Timeouts(connect=1, first_byte=2, total=3) and azure.weight == 1.0
    assert gpt.policy == Policy(
        strategy="least_inflight",
        fallbacks=("claude",),
        fallback_on=("rate_limit", "context_length"),
        retries=Retries(attempts=2, backoff_s=0.1, max_backoff_s=2.0),
        deadline_s=30.0,
        breaker=Breaker(failures=3, window_s=10.0, cooldown_s=5.0),
    )


BASE = {"name": "m", "provider": "openai", "model": "x"}
OTHER = {"name": "n", "provider": "openai", "model": "y"}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({**BASE, "fallbacks": ["nope"]}, ["models[0].fallbacks", "'nope'"]),
        ({**BASE, "fallbacks": ["m"]}, ["models[0]", "'fallbacks'", "itself"]),
        ({**BASE, "fallbacks": "n"}, ["models[0].fallbacks"]),
        ({**BASE, "fallback_on": ["teapot"]}, ["models[0].fallback_on[0]", "context_length"]),
        ({**BASE, "retries": {"attempts": -1}}, ["models[0].retries.attempts"]),
        ({**BASE, "retries": {"attempts": 1, "tries": 2}}, ["'tries'", "models[0].retries"]),
        ({**BASE, "retries": {"backoff_s": 5, "max_backoff_s": 1}}, ["models[0].retries", "max_backoff_s"]),
        ({**BASE, "retries": 3}, ["models[0].retries"]),
        ({**BASE, "deadline_s": 0}, ["models[0].deadline_s"]),
        ({**BASE, "breaker": {"failures": 0}}, ["models[0].breaker.failures"]),
        ({**BASE, "breaker": {"cooldown_s": "soon"}}, ["models[0].breaker.cooldown_s"]),
        ({**BASE, "weight": -1}, ["models[0].weight"]),
        (
            {"name": "m", "model": "x", "deployments": [{"provider": "openai", "model": "x"}]},
            ["'model'", "inside"],
        ),
        ({"name": "m", "deployments": []}, ["models[0].deployments"]),
        ({"name": "m", "deployments": [{"provider": "openai"}]}, ["models[0].deployments[0]", "'model'"]),
        (
            {"name": "m", "deployments": [{"provider": "openai", "model": "x", "colour": 1}]},
            ["'colour'", "models[0].deployments[0]"],
        ),
        (
            {"name": "m", "deployments": [{"id": "a", "provider": "openai", "model": "x"}] * 2},
            ["models[0]", "same id"],
        ),
    ],
)
def test_config_errors_name_the_model_and_path(entry: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        parse(_models(entry, OTHER), source="c.yaml")
    line = str(e.value)
    assert "\n" not in line and line.startswith("c.yaml: ") and "(model 'm')" in line
    for w in words:
        assert w in line, line


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({**BASE, "strategy": "fastest"}, ["models[0].strategy", "'fastest'", "weighted"]),
        ({**BASE, "provider": "openia"}, ["models[0].provider", "'openia'", "openai-compatible"]),
        (
            {
                "name": "m",
                "deployments": [{"provider": "openai", "model": "x"}, {"provider": "nope", "model": "x"}],
            },
            ["models[0].deployments[1].provider", "'nope'"],
        ),
        (
            {**BASE, "options": {"max_tokens_feild": "max_tokens"}},
            ["models[0].options", "'max_tokens_field'"],
        ),
    ],
)
def test_what_the_registries_check_names_the_path_too(entry: dict[str, Any], words: list[str]) -> None:
    """Provider and strategy names and each provider kind's options are checked by Router.build,
    where the registries are, with errors of the same form as the schema's."""
    s = parse(_models(entry, OTHER), source="c.yaml")
    with pytest.raises(ConfigError) as e:
        Router.build(s, ProviderContext(http=None))  # type: ignore[arg-type]
    line = str(e.value)
    assert "\n" not in line and line.startswith("c.yaml: ") and "(model 'm')" in line
    for w in words:
        assert w in line, line


def test_start_up_stops_with_one_line(tmp_path: Path) -> None:
    config = (
        "models:\n  - {name: m1, provider: openai, model: x, fallbacks: [m9]}\n"
        "  - {name: m2, deployments: [{provider: openai-compatible, model: y}]}\n"
    )
    r = _serve(tmp_path, config)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'m1'" in lines[0] and "models[0].fallbacks" in lines[0] and "'m9'" in lines[0]
    r = _serve(tmp_path, config.replace(", fallbacks: [m9]", ""))  # a provider's own check, per deployment
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "'m2'" in lines[0] and "'api_base'" in lines[0]
