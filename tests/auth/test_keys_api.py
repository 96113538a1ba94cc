"""Gateway API keys end to end: a real gateway with `auth.require_keys`, keys made with the CLI,
the official SDKs as clients."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import KEY_ENV
from tests.fakes.upstream import FakeUpstream
from tests.preference.conftest import usage_row
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess

PRICE = {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}  # ~1 cent per short answer


def keys_cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`multimodel keys ARGS` against the gateway's config, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "multimodel.cli", "keys", *args, "--config", str(gw.config_path)],
        cwd=gw.workdir,
        env=gw.env,
        capture_output=True,
        text=True,
        check=True,
    )


def make_key(gw: GatewayProcess, name: str, *extra: str) -> str:
    out = keys_cli(gw, "create", name, *extra)
    secret = out.stdout.strip()
    assert secret.startswith("mm-") and "\n" not in secret
    assert secret not in out.stderr
    return secret


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("keys")
    models: list[dict[str, Any]] = [
        {"name": n, "provider": "openai-compatible", "model": f"up-{n}", "api_base": up, "price": PRICE}
        for n, up in (("k-one", upstream.openai_base), ("k-two", upstream.openai_base))
    ]
    models.append(
        {
            "name": "k-claude",
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "api_base": upstream.anthropic_base,
            "api_key_env": "MM_TEST_ANTHROPIC_KEY",
        }
    )
    config = {
        "database": f"sqlite:///{workdir / 'usage.db'}",
        "models": models,
        "auth": {"require_keys": True, "refresh_seconds": 0.2},
    }
    with GatewayProcess(workdir, config, env=KEY_ENV) as g:
        yield g


def db(gw: GatewayProcess) -> str:
    return f"sqlite:///{gw.workdir / 'usage.db'}"


def oai(gw: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base, api_key=key, max_retries=0)


def ask(gw: GatewayProcess, key: str, model: str = "k-one") -> str:
    raw = oai(gw, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hello"}]
    )
    return raw.headers["x-request-id"]


def test_without_a_valid_key_both_apis_answer_401_in_their_own_shape(gw: GatewayProcess) -> None:
    with pytest.raises(openai.AuthenticationError) as e:
        oai(gw, "mm-not-a-key").chat.completions.create(
            model="k-one", messages=[{"role": "user", "content": "x"}]
        )
    assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
    r = httpx.get(gw.url + "/v1/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    client = anthropic.Anthropic(base_url=gw.url, api_key="mm-not-a-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as a:
        client.messages.create(model="k-claude", max_tokens=5, messages=[{"role": "user", "content": "x"}])
    assert a.value.body["type"] == "error" and a.value.body["error"]["type"] == "authentication_error"
    assert httpx.get(gw.url + "/health").status_code == 200  # probes stay open


def test_a_new_key_works_at_once_with_both_sdks_and_is_logged(gw: GatewayProcess) -> None:
    secret = make_key(gw, "app-one")
    request_id = ask(gw, secret)
    client = anthropic.Anthropic(base_url=gw.url, api_key=secret, max_retries=0)
    msg = client.messages.create(
        model="k-claude", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].type == "text"
    key_id = next(k["id"] for k in rows(db(gw), "api_keys") if k["name"] == "app-one")
    assert usage_row(db(gw), request_id)["key_id"] == key_id
    assert secret not in gw.log() and all(secret not in str(k.values()) for k in rows(db(gw), "api_keys"))


def test_a_key_limited_to_some_models_sees_and_uses_only_those(gw: GatewayProcess) -> None:
    secret = make_key(gw, "only-two", "--models", "k-two")
    sdk = oai(gw, secret)
    assert [m.id for m in sdk.models.list()] == ["k-two"]
    r = httpx.get(gw.url + "/v1/deployments", headers={"authorization": f"Bearer {secret}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "admin_only"
    admin = make_key(gw, "ops-two", "--models", "k-two", "--admin")
    listed = httpx.get(gw.url + "/v1/deployments", headers={"authorization": f"Bearer {admin}"}).json()
    assert [m["model"] for m in listed["data"]] == ["k-two"]
    ask(gw, secret, "k-two")
    with pytest.raises(openai.PermissionDeniedError) as e:
        ask(gw, secret, "k-one")
    assert e.value.code == "model_not_allowed"


def test_an_unknown_model_id_names_only_the_models_a_limited_key_sees(gw: GatewayProcess) -> None:
    secret = make_key(gw, "only-two-ids", "--models", "k-two")
    for path, headers in (
        ("/v1/models/k-one", {}),  # exists, but not for this key
        ("/v1/models/nope", {}),
        ("/v1/models/nope", {"anthropic-version": "2023-06-01"}),
    ):
        r = httpx.get(gw.url + path, headers={"authorization": f"Bearer {secret}", **headers})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["message"].split("Available models: ")[1] == "k-two"


def test_rate_limit_answers_429_with_retry_after(gw: GatewayProcess) -> None:
    secret = make_key(gw, "slow", "--rpm", "2")
    ask(gw, secret)
    ask(gw, secret)
    with pytest.raises(openai.RateLimitError) as e:
        ask(gw, secret)
    assert int(e.value.response.headers["retry-after"]) >= 1


def test_a_spent_budget_refuses_the_next_request(gw: GatewayProcess) -> None:
    secret = make_key(gw, "budget", "--budget-usd", "0.001")
    ask(gw, secret)  # costs ~0.002+: crosses the budget, and still finishes
    with pytest.raises(openai.RateLimitError) as e:
        ask(gw, secret)
    assert e.value.code == "insufficient_quota"


def test_a_revoked_key_stops_working(gw: GatewayProcess) -> None:
    secret = make_key(gw, "leaving")
    ask(gw, secret)
    keys_cli(gw, "revoke", "leaving")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            ask(gw, secret)
        except openai.AuthenticationError:
            return
        time.sleep(0.1)
    pytest.fail("the revoked key still works after 10 s (refresh_seconds is 0.2)")


def test_feedback_and_battles_belong_to_the_key_that_made_them(gw: GatewayProcess) -> None:
    mine, theirs = make_key(gw, "owner"), make_key(gw, "stranger")
    request_id = ask(gw, mine)
    rate = {"request_id": request_id, "rating": "up"}
    r = httpx.post(gw.url + "/v1/feedback", json=rate, headers={"authorization": f"Bearer {theirs}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_answer"
    r = httpx.post(gw.url + "/v1/feedback", json=rate, headers={"authorization": f"Bearer {mine}"})
    assert r.status_code == 200, r.text
    created = httpx.post(
        gw.url + "/v1/arena/battles", json={"prompt": "hi"}, headers={"authorization": f"Bearer {mine}"}
    )
    assert created.status_code == 200, created.text
    stream = created.json()["a"]["stream"]
    r = httpx.get(stream, headers={"authorization": f"Bearer {theirs}"})
    assert r.status_code == 404  # another key's battle does not exist for it
    r = httpx.get(stream, headers={"authorization": f"Bearer {mine}"})
    assert r.status_code == 200 and "data:" in r.text


def test_keys_list_shows_limits_and_spend_never_secrets(gw: GatewayProcess) -> None:
    secret = make_key(gw, "listed", "--budget-usd", "3")
    ask(gw, secret)
    out = keys_cli(gw, "list").stdout
    line = next(x for x in out.splitlines() if x.startswith("listed "))
    assert secret not in out and secret[:10] in line and " 3 " in f"{line} "
    deadline = time.monotonic() + 10
    while "0.0000" in line and time.monotonic() < deadline:  # the usage row is written in the background
        time.sleep(0.2)
        line = next(x for x in keys_cli(gw, "list").stdout.splitlines() if x.startswith("listed "))
    assert "0.0000" not in line


def test_the_usage_dashboard_shows_a_key_its_own_requests_and_an_admin_all(gw: GatewayProcess) -> None:
    mine, admin = make_key(gw, "scoped"), make_key(gw, "ops", "--admin")
    ids = [ask(gw, mine) for _ in range(3)]
    for request_id in ids:
        usage_row(db(gw), request_id)  # written

    def summary(key: str) -> dict[str, Any]:
        r = httpx.get(gw.url + "/v1/usage/summary?range=1h", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        return dict(r.json()["totals"])

    assert summary(mine)["requests"] == 3
    # An arena answer shows once its battle has a vote (an earlier test leaves one without).
    everything = len([r for r in rows(db(gw), "usage") if r["endpoint"] != "arena"])
    assert summary(admin)["requests"] >= everything > 3
