"""Shared fixtures: one fake upstream and one real gateway process for the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream, closed_port_url
from tests.support.gateway import GatewayProcess

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY)


def standard_models(up: FakeUpstream) -> list[dict[str, Any]]:
    price = {"input_per_mtok": 2.0, "output_per_mtok": 10.0}
    return [
        {
            "name": "gpt-test",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_base": up.openai_base,
            "api_key_env": "MM_TEST_OPENAI_KEY",
            "price": price,
            # The Responses API through chat completions, as for any provider (test_responses_api);
            # gpt-responses below takes it natively.
            "options": {"responses_api": False},
        },
        {
            "name": "gpt-responses",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_base": up.openai_base,
            "api_key_env": "MM_TEST_OPENAI_KEY",
            "price": price,
        },
        {
            "name": "claude-test",
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "api_base": up.anthropic_base,
            "api_key_env": "MM_TEST_ANTHROPIC_KEY",
            "price": price,
        },
        {
            "name": "compat-test",
            "provider": "openai-compatible",
            "model": "llama-3-8b",
            "api_base": up.openai_base,
        },
        {
            "name": "azure-test",
            "provider": "openai-compatible",
            "model": "my-deployment",
            "api_base": up.url,
            "api_key_env": "MM_TEST_OPENAI_KEY",
            "options": {"api_version": "2024-10-21"},
        },
        {
            "name": "slow-test",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_base": up.openai_base,
            "api_key_env": "MM_TEST_OPENAI_KEY",
            "timeouts": {"connect": 1, "first_byte": 1, "total": 5},
        },
        {
            "name": "slow-claude",
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "api_base": up.anthropic_base,
            "api_key_env": "MM_TEST_ANTHROPIC_KEY",
            "timeouts": {"connect": 1, "first_byte": 1, "total": 5},
        },
        {
            "name": "down-test",
            "provider": "openai-compatible",
            "model": "m",
            "api_base": closed_port_url() + "/v1",
        },
    ]


KEY_ENV = {"MM_TEST_OPENAI_KEY": OPENAI_KEY, "MM_TEST_ANTHROPIC_KEY": ANTHROPIC_KEY}


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture(scope="session")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir: Path = tmp_path_factory.mktemp("gateway")
    config = {"database": f"sqlite:///{workdir / 'usage.db'}", "models": standard_models(upstream)}
    with GatewayProcess(workdir, config, env=KEY_ENV) as gw:
        yield gw


@pytest.fixture
def up(upstream: FakeUpstream) -> FakeUpstream:
    """The shared fake upstream with an empty behaviour queue and request record."""
    upstream.reset()
    return upstream
