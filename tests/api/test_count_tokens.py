"""POST /v1/messages/count_tokens: an Anthropic upstream's own count (its request as the client
wrote it, with its betas), the in-house model's exact count, else an estimate that says so."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import pytest

from tests.conftest import KEY_ENV, standard_models
from tests.fakes.upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.specs import validate

HOUSE = str(Path(__file__).resolve().parents[2] / "models" / "house-tiny")
MESSAGES = [{"role": "user", "content": "one two three four"}]


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("count")
    models = [*standard_models(upstream), {"name": "house-tiny", "provider": "inhouse", "model": HOUSE}]
    with GatewayProcess(
        workdir, {"database": f"sqlite:///{workdir / 'u.db'}", "models": models}, env=KEY_ENV
    ) as g:
        yield g


def test_an_anthropic_upstream_counts_the_request_as_written(gw: GatewayProcess, up: FakeUpstream) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    system = [{"type": "text", "text": "five six", "cache_control": {"type": "ephemeral"}}]
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-test", messages=MESSAGES, system=system,  # type: ignore[arg-type]
        extra_headers={"anthropic-beta": "token-counting-2024-11-01"},
    )  # fmt: skip
    assert raw.parse().input_tokens == 6  # the fake upstream's count: words of system + messages
    assert raw.headers["x-multimodel-token-count"] == "exact"
    sent = up.requests[-1]
    assert (
        sent.path == "/v1/messages/count_tokens"
        and sent.headers["anthropic-beta"] == "token-counting-2024-11-01"
    )
    assert sent.body == {"model": "claude-haiku-4-5", "messages": MESSAGES, "system": system}


def test_the_in_house_model_counts_with_its_own_tokenizer(gw: GatewayProcess) -> None:
    from transformers import AutoTokenizer

    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    raw = client.messages.with_raw_response.count_tokens(model="house-tiny", messages=MESSAGES)  # type: ignore[arg-type]
    tokenizer = AutoTokenizer.from_pretrained(HOUSE)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": MESSAGES[0]["content"]}], tokenize=False, add_generation_prompt=True
    )
    assert raw.parse().input_tokens == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert raw.headers["x-multimodel-token-count"] == "exact"


def test_other_models_get_an_estimate_that_says_so(gw: GatewayProcess, up: FakeUpstream) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    raw = client.messages.with_raw_response.count_tokens(model="gpt-test", messages=MESSAGES)  # type: ignore[arg-type]
    assert raw.headers["x-multimodel-token-count"] == "estimate"
    assert 3 <= raw.parse().input_tokens <= 20  # 18 characters, one message
    assert up.calls == 0


def test_errors_are_in_anthropics_format(gw: GatewayProcess) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="nope", messages=MESSAGES)  # type: ignore[arg-type]
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.count_tokens(
            model="gpt-test", messages=MESSAGES, thinking={"type": "enabled", "budget_tokens": 1024}
        )  # type: ignore[arg-type]
    assert "thinking" in str(e.value)


@pytest.mark.parametrize("body", [{"model": "nope", "messages": MESSAGES}, {"model": "claude-test"}])
def test_errors_carry_a_request_id(gw: GatewayProcess, body: dict) -> None:
    """In the body and the header, as every Anthropic error (ErrorResponse requires request_id)."""
    r = httpx.post(gw.url + "/v1/messages/count_tokens", json=body, timeout=20)
    assert r.status_code in (400, 404)
    validate("anthropic", "ErrorResponse", r.json())  # the strict spec
    assert r.json()["request_id"] == r.headers["request-id"]
