"""Two gateway replicas on one PostgreSQL database (and one Redis) share their keys: a key made once
works on both, a revocation reaches both, one replica's spend counts against the budget on the
other, and a rate limit counts the requests to both."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.auth.test_keys_api import keys_cli
from tests.conftest import KEY_ENV
from tests.fakes.upstream import FakeUpstream
from tests.support.databases import postgres_schema
from tests.support.gateway import GatewayProcess

PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}


@pytest.fixture(scope="module")
def replicas(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    with postgres_schema() as database:
        config: dict[str, Any] = {
            "database": database,
            "models": [
                {"name": "r-one", "provider": "openai-compatible", "model": "up", "api_base": upstream.openai_base,
                 "price": PRICE},
            ],
            "auth": {"require_keys": True, "refresh_seconds": 0.2, "redis_url": "redis://127.0.0.1:6379/0"},
        }  # fmt: skip
        a_dir, b_dir = tmp_path_factory.mktemp("replica-a"), tmp_path_factory.mktemp("replica-b")
        with GatewayProcess(a_dir, config, env=KEY_ENV) as a, GatewayProcess(b_dir, config, env=KEY_ENV) as b:
            yield a, b


def ask(gw: GatewayProcess, key: str) -> None:
    openai.OpenAI(base_url=gw.openai_base, api_key=key, max_retries=0).chat.completions.create(
        model="r-one", messages=[{"role": "user", "content": "hello"}]
    )


def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def refused(gw: GatewayProcess, key: str, error: type[openai.APIStatusError]) -> bool:
    try:
        ask(gw, key)
    except error:
        return True
    return False


def test_a_key_made_once_works_on_both_and_its_revocation_reaches_both(
    replicas: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = replicas
    secret = keys_cli(a, "create", "shared").stdout.strip()
    ask(a, secret)
    ask(b, secret)
    keys_cli(b, "revoke", "shared")
    eventually(lambda: refused(a, secret, openai.AuthenticationError), "a still takes the revoked key")
    eventually(lambda: refused(b, secret, openai.AuthenticationError), "b still takes the revoked key")


def test_spend_on_one_replica_counts_on_the_other(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = replicas
    secret = keys_cli(a, "create", "budgeted", "--budget-usd", "0.001").stdout.strip()
    ask(a, secret)  # crosses the budget on replica a
    # Replica b never served this key: it learns the spend from the usage log a wrote.
    eventually(lambda: refused(b, secret, openai.RateLimitError), "b never saw a's spend")


def test_a_rate_limit_counts_the_requests_to_every_replica(
    replicas: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = replicas
    secret = keys_cli(a, "create", "limited", "--rpm", "3").stdout.strip()
    ask(a, secret)
    ask(b, secret)
    ask(a, secret)
    with pytest.raises(openai.RateLimitError) as e:
        ask(b, secret)  # b has seen one request, but the key has made three
    assert e.value.code == "rate_limit_exceeded" and int(e.value.response.headers["retry-after"]) >= 1
