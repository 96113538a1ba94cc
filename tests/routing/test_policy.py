"""The reliability config: backward compatible, validated at start-up with one line naming the
model and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from multimodel.errors import CONDITIONS, ConfigError
from multimodel.routing.policy import Breaker, Policy, Retries
from multimodel.settings import Timeouts, parse
from tests.cli.test_config_errors import _serve

ENV = {"KEY_A": "a", "KEY_B": "b"}


def _models(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"models": list(entries)}


def test_a_plain_entry_is_one_deployment_with_everything_off() -> None:
    s = parse(_models({"name": "m", "provider": "openai", "model": "gpt-4o", "api_key_env": "KEY_A"}), ENV)
    m = s.models[0]
    assert m.each_deployment() == (m,) and m.deployment_id == "m"
    assert m.policy == Policy() and m.policy.retries.attempts == 0 and m.policy.breaker is None
    assert m.policy.fallback_on == frozenset(CONDITIONS)


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
    gpt = parse(raw, ENV).models[0]
    first, azure = gpt.each_deployment()
    assert (gpt.provider, gpt.model, gpt.weight) == ("openai", "gpt-4o", 3.0)  # the first deployment's
    assert first.deployment_id == "gpt#1" and first.api_key == "a" and first.name == "gpt"
    assert azure.deployment_id == "azure" and azure.api_key == "b" and azure.api_base == "https://x.example"
    assert azure.timeouts == Timeouts(1, 2, 3) and azure.weight == 1.0
    assert gpt.policy == Policy(
        strategy="least_inflight",
        fallbacks=("claude",),
        fallback_on=frozenset({"rate_limit", "context_length"}),
        retries=Retries(2, 0.1, 2.0),
        deadline_s=30.0,
        breaker=Breaker(3, 10.0, 5.0),
    )


BASE = {"name": "m", "provider": "openai", "model": "x"}
OTHER = {"name": "n", "provider": "openai", "model": "y"}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({**BASE, "strategy": "fastest"}, ["'strategy'", "weighted"]),
        ({**BASE, "fallbacks": ["nope"]}, ["'fallbacks'", "'nope'"]),
        ({**BASE, "fallbacks": ["m"]}, ["'fallbacks'", "itself"]),
        ({**BASE, "fallbacks": "n"}, ["'fallbacks'"]),
        ({**BASE, "fallback_on": ["teapot"]}, ["'fallback_on'", "context_length"]),
        ({**BASE, "retries": {"attempts": -1}}, ["'retries.attempts'"]),
        ({**BASE, "retries": {"attempts": 1, "tries": 2}}, ["'retries.tries'"]),
        ({**BASE, "retries": {"backoff_s": 5, "max_backoff_s": 1}}, ["'retries.max_backoff_s'"]),
        ({**BASE, "retries": 3}, ["'retries'"]),
        ({**BASE, "deadline_s": 0}, ["'deadline_s'"]),
        ({**BASE, "breaker": {"failures": 0}}, ["'breaker.failures'"]),
        ({**BASE, "breaker": {"cooldown_s": "soon"}}, ["'breaker.cooldown_s'"]),
        ({**BASE, "weight": -1}, ["'weight'"]),
        (
            {"name": "m", "model": "x", "deployments": [{"provider": "openai", "model": "x"}]},
            ["'model'", "inside"],
        ),
        ({"name": "m", "deployments": []}, ["'deployments'"]),
        ({"name": "m", "deployments": [{"provider": "openai"}]}, ["deployments[0]", "'model'"]),
        ({"name": "m", "deployments": [{"provider": "openai", "model": "x", "colour": 1}]}, ["'colour'"]),
        (
            {"name": "m", "deployments": [{"provider": "openai", "model": "x", "api_key_env": "UNSET_VAR"}]},
            ["deployments[0]", "'api_key_env'", "UNSET_VAR"],
        ),
        (
            {"name": "m", "deployments": [{"id": "a", "provider": "openai", "model": "x"}] * 2},
            ["'deployments'", "same id"],
        ),
    ],
)
def test_config_errors_name_the_model_and_field(entry: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        parse(_models(entry, OTHER), ENV, source="c.yaml")
    line = str(e.value)
    assert "\n" not in line and line.startswith("c.yaml: model 'm'")
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
    assert len(lines) == 1 and "'m1'" in lines[0] and "'fallbacks'" in lines[0] and "'m9'" in lines[0]
    r = _serve(tmp_path, config.replace(", fallbacks: [m9]", ""))  # a provider's own check, per deployment
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "'m2'" in lines[0] and "'api_base'" in lines[0]
