"""Cached and reasoning tokens end to end: an upstream answer that reports them (OpenAI: cached and
reasoning tokens; Anthropic: cache reads and writes), through both client APIs with the official
SDKs, streamed and not. The client sees them in its format's own fields, the usage row keeps
them, the cost prices cache reads and writes at their own rates, a key's spend and budget follow
that cost, and the usage summary gives each model's cache-hit share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from multimodel.auth.keys import spend_by_key
from multimodel.store import make_engine
from tests.auth.test_keys_api import make_key
from tests.conftest import KEY_ENV
from tests.fakes.upstream import FakeUpstream, Raw, Reply
from tests.preference.conftest import usage_row
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_anthropic_stream, check_openai_stream, validate

PRICE = {
    "input_per_mtok": 1000.0,
    "output_per_mtok": 4000.0,
    "cache_read_per_mtok": 100.0,
    "cache_write_per_mtok": 1250.0,
}
USER = [{"role": "user", "content": "Use the cache."}]


@dataclass(frozen=True)
class Upstream:
    model: str  # the gateway's model served by this upstream format
    reply: Reply

    @property
    def counts(self) -> dict[str, int]:
        """The canonical counts (input and output include the cache reads and writes, reasoning)."""
        r = self.reply
        assert r.input_tokens is not None and r.output_tokens is not None
        return {
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cache_read_tokens": r.cache_read_tokens,
            "cache_write_tokens": r.cache_write_tokens,
            "reasoning_tokens": r.reasoning_tokens,
        }

    @property
    def cost(self) -> float:
        c = self.counts
        uncached = c["input_tokens"] - c["cache_read_tokens"] - c["cache_write_tokens"]
        return (
            uncached * PRICE["input_per_mtok"]
            + c["cache_read_tokens"] * PRICE["cache_read_per_mtok"]
            + c["cache_write_tokens"] * PRICE["cache_write_per_mtok"]
            + c["output_tokens"] * PRICE["output_per_mtok"]
        ) / 1e6


UPSTREAMS = {
    # OpenAI: 600 of the 1000 prompt tokens cached, 200 of the 300 completion tokens reasoning.
    "openai": Upstream(
        "tok-gpt",
        Reply(
            "Thought it through.",
            input_tokens=1000,
            output_tokens=300,
            cache_read_tokens=600,
            reasoning_tokens=200,
        ),
    ),
    # Anthropic: 500 read from the cache, 300 written to it, 200 uncached (its wire input_tokens).
    "anthropic": Upstream(
        "tok-claude",
        Reply(
            "Read from the cache.",
            input_tokens=1000,
            output_tokens=300,
            cache_read_tokens=500,
            cache_write_tokens=300,
            reasoning_tokens=120,
        ),
    ),
}


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("tokens")
    models = [
        {
            "name": "tok-gpt",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "api_base": upstream.openai_base,
            "api_key_env": "MM_TEST_OPENAI_KEY",
            "price": PRICE,
        },
        {
            "name": "tok-claude",
            "provider": "anthropic",
            "model": "claude-haiku-4-5",
            "api_base": upstream.anthropic_base,
            "api_key_env": "MM_TEST_ANTHROPIC_KEY",
            "price": PRICE,
        },
    ]
    config = {
        "database": f"sqlite:///{workdir / 'usage.db'}",
        "models": models,
        "auth": {"require_keys": True, "refresh_seconds": 0.2},
    }
    with GatewayProcess(workdir, config, env=KEY_ENV) as g:
        yield g


@pytest.fixture(scope="module")
def admin(gw: GatewayProcess) -> str:
    """A key for the tests that need no spend of their own."""
    return make_key(gw, "tok-admin", "--admin")


def database(gw: GatewayProcess) -> str:
    return f"sqlite:///{gw.workdir / 'usage.db'}"


def spend(gw: GatewayProcess, key_id: str) -> float:
    engine = make_engine(database(gw))
    try:
        return spend_by_key(engine).get(key_id, 0.0)
    finally:
        engine.dispose()


# -- what each client format shows -----------------------------------------------------------


def check_openai_usage(usage: Any, c: dict[str, int]) -> None:
    """`usage`: the SDK's CompletionUsage, or the JSON of one."""
    get = (lambda o, k: o[k]) if isinstance(usage, dict) else getattr
    assert get(usage, "prompt_tokens") == c["input_tokens"]
    assert get(usage, "completion_tokens") == c["output_tokens"]
    assert get(usage, "total_tokens") == c["input_tokens"] + c["output_tokens"]
    prompt, completion = get(usage, "prompt_tokens_details"), get(usage, "completion_tokens_details")
    assert get(prompt, "cached_tokens") == c["cache_read_tokens"]
    assert get(prompt, "cache_write_tokens") == c["cache_write_tokens"]
    assert get(completion, "reasoning_tokens") == c["reasoning_tokens"]


def check_anthropic_usage(usage: Any, c: dict[str, int]) -> None:
    """`usage`: the SDK's Usage, or the JSON of a Usage or MessageDeltaUsage."""
    get = (lambda o, k: o.get(k)) if isinstance(usage, dict) else getattr
    uncached = c["input_tokens"] - c["cache_read_tokens"] - c["cache_write_tokens"]
    assert get(usage, "input_tokens") == uncached  # Anthropic's input_tokens leaves the cache out
    assert get(usage, "cache_read_input_tokens") == c["cache_read_tokens"]
    assert get(usage, "cache_creation_input_tokens") == c["cache_write_tokens"]
    assert get(usage, "output_tokens") == c["output_tokens"]
    details = get(usage, "output_tokens_details")
    if c["reasoning_tokens"]:
        assert details is not None and get(details, "thinking_tokens") == c["reasoning_tokens"]
    else:
        assert details is None


def ask_openai(gw: GatewayProcess, secret: str, up: Upstream, stream: bool) -> list[str]:
    """The request ids of the calls made (a stream twice: raw for the spec, then with the SDK)."""
    c = up.counts
    client = openai.OpenAI(base_url=gw.openai_base, api_key=secret, max_retries=0)
    if not stream:
        raw = client.chat.completions.with_raw_response.create(model=up.model, messages=USER)  # type: ignore[arg-type]
        body = raw.http_response.json()
        validate("openai", "CreateChatCompletionResponse", body)
        validate("openai", "CompletionUsage", body["usage"])
        check_openai_usage(raw.parse().usage, c)
        return [raw.headers["x-request-id"]]
    body = {"model": up.model, "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    r = httpx.post(
        gw.openai_base + "/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {secret}"},
        timeout=20,
    )
    last = check_openai_stream(r.content, include_usage=True)[-1]
    check_openai_usage(last["usage"], c)
    raw_stream = client.chat.completions.with_raw_response.create(
        model=up.model,
        messages=USER,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw_stream.parse())
    check_openai_usage(chunks[-1].usage, c)
    return [r.headers["x-request-id"], raw_stream.headers["x-request-id"]]


def ask_anthropic(gw: GatewayProcess, secret: str, up: Upstream, stream: bool) -> list[str]:
    c = up.counts
    client = anthropic.Anthropic(base_url=gw.url, api_key=secret, max_retries=0)
    if not stream:
        raw = client.messages.with_raw_response.create(model=up.model, max_tokens=500, messages=USER)  # type: ignore[arg-type]
        body = raw.http_response.json()
        validate("anthropic", "Message", body, lenient=True)
        validate("anthropic", "Usage", body["usage"])  # strict: every key the spec requires
        check_anthropic_usage(raw.parse().usage, c)
        return [raw.headers["request-id"]]
    body = {"model": up.model, "max_tokens": 500, "messages": USER, "stream": True}
    r = httpx.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": secret}, timeout=20)
    events = check_anthropic_stream(r.content)
    validate("anthropic", "Usage", events[0]["message"]["usage"])
    delta = events[-2]["usage"]
    validate("anthropic", "MessageDeltaUsage", delta)
    check_anthropic_usage(delta, c)
    with client.messages.stream(model=up.model, max_tokens=500, messages=USER) as s:  # type: ignore[arg-type]
        final = s.get_final_message()
        sdk_id = s.response.headers["request-id"]
    check_anthropic_usage(final.usage, c)
    return [r.headers["request-id"], sdk_id]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("client", ["openai", "anthropic"])
@pytest.mark.parametrize("upstream_format", ["openai", "anthropic"])
def test_token_details_reach_the_client_the_row_the_cost_and_the_spend(
    gw: GatewayProcess, up: FakeUpstream, upstream_format: str, client: str, stream: bool
) -> None:
    upstream = UPSTREAMS[upstream_format]
    secret = make_key(gw, f"tok-{upstream_format}-{client}-{stream}")
    up.push(upstream.reply, upstream.reply)
    ask = ask_openai if client == "openai" else ask_anthropic
    request_ids = ask(gw, secret, upstream, stream)
    assert up.queued == 2 - len(request_ids)
    key_ids = set()
    for request_id in request_ids:
        row = usage_row(database(gw), request_id)
        assert {k: row[k] for k in upstream.counts} == upstream.counts
        assert row["cost_usd"] == pytest.approx(upstream.cost)
        key_ids.add(row["key_id"])
    (key_id,) = key_ids
    assert spend(gw, key_id) == pytest.approx(upstream.cost * len(request_ids))


def test_a_budget_counts_cache_reads_at_their_price(gw: GatewayProcess, up: FakeUpstream) -> None:
    """Priced as plain input, one answer would use the whole budget; at the cache-read price two fit."""
    upstream = UPSTREAMS["openai"]
    c = upstream.counts
    as_input = (
        c["input_tokens"] * PRICE["input_per_mtok"] + c["output_tokens"] * PRICE["output_per_mtok"]
    ) / 1e6
    budget = 2.0
    assert upstream.cost < budget <= min(2 * upstream.cost, as_input)
    secret = make_key(gw, "tok-budget", "--budget-usd", str(budget))
    client = openai.OpenAI(base_url=gw.openai_base, api_key=secret, max_retries=0)
    up.push(upstream.reply, upstream.reply, upstream.reply)
    for _ in range(2):
        client.chat.completions.create(model=upstream.model, messages=USER)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=upstream.model, messages=USER)  # type: ignore[arg-type]
    assert e.value.code == "insufficient_quota"


def test_the_summary_gives_each_models_cache_hit_share(
    gw: GatewayProcess, up: FakeUpstream, admin: str
) -> None:
    ids = []
    for upstream in UPSTREAMS.values():
        up.push(upstream.reply)
        ids += ask_openai(gw, admin, upstream, stream=False)
    for request_id in ids:
        usage_row(database(gw), request_id)
    r = httpx.get(gw.url + "/v1/usage/summary?range=1h", headers={"authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    models = {m["model"]: m for m in r.json()["models"]}
    logged = rows(database(gw), "usage")  # the other tests' rows too
    for upstream in UPSTREAMS.values():
        mine = [row for row in logged if row["public_model"] == upstream.model]
        got = models[upstream.model]
        for key in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens"):
            assert got[key] == sum(row[key] for row in mine), key
        assert got["cache_hit_share"] == pytest.approx(got["cache_read_tokens"] / got["input_tokens"])
        c = upstream.counts
        assert got["cache_hit_share"] >= 0.9 * c["cache_read_tokens"] / c["input_tokens"]  # mostly these


# -- the upstream's own shapes -----------------------------------------------------------------


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


def _anthropic_stream(start_usage: dict[str, Any], delta_usage: dict[str, Any]) -> str:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-haiku-4-5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    return "".join(
        _sse(e)
        for e in (
            {"type": "message_start", "message": message},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": delta_usage,
            },
            {"type": "message_stop"},
        )
    )


@pytest.mark.parametrize(
    ("start", "delta"),
    [
        # message_delta with the output only (the docs' streams): the input's counts are message_start's.
        (
            {
                "input_tokens": 25,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 10,
                "output_tokens": 1,
            },
            {"output_tokens": 15},
        ),
        # message_delta's counts are cumulative: they replace message_start's, null ones excepted.
        (
            {
                "input_tokens": 25,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 10,
                "output_tokens": 1,
            },
            {
                "input_tokens": 25,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": None,
                "output_tokens": 15,
            },
        ),
    ],
    ids=["output-only", "cumulative"],
)
def test_anthropic_stream_usage_from_message_start_and_message_delta(
    gw: GatewayProcess, up: FakeUpstream, admin: str, start: dict[str, Any], delta: dict[str, Any]
) -> None:
    up.push(Raw(_anthropic_stream(start, delta), content_type="text/event-stream"))
    client = openai.OpenAI(base_url=gw.openai_base, api_key=admin, max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="tok-claude",
            messages=USER,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    counts = {
        "input_tokens": 135,
        "output_tokens": 15,
        "cache_read_tokens": 100,
        "cache_write_tokens": 10,
        "reasoning_tokens": 0,
    }
    check_openai_usage(chunks[-1].usage, counts)


@pytest.mark.parametrize(
    ("model", "usage"),
    [
        (
            "tok-gpt",
            {"prompt_tokens": 5, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": "2"}},
        ),
        ("tok-gpt", {"prompt_tokens": 5, "completion_tokens": 3, "completion_tokens_details": [1]}),
        (
            "tok-claude",
            {"input_tokens": 5, "output_tokens": 3, "output_tokens_details": {"thinking_tokens": "1"}},
        ),
    ],
)
def test_token_details_of_a_wrong_type_are_a_502(
    gw: GatewayProcess, up: FakeUpstream, admin: str, model: str, usage: dict[str, Any]
) -> None:
    if model == "tok-gpt":
        answer: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
            ],
        }
    else:
        answer = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
        }
    up.push(Raw(json.dumps({**answer, "usage": usage})))
    r = httpx.post(
        gw.openai_base + "/chat/completions",
        json={"model": model, "messages": USER},
        headers={"authorization": f"Bearer {admin}"},
        timeout=20,
    )
    assert r.status_code == 502 and "malformed" in r.text, r.text


def test_a_message_delta_count_of_a_wrong_type_is_an_error(
    gw: GatewayProcess, up: FakeUpstream, admin: str
) -> None:
    delta = {"output_tokens": 3, "cache_read_input_tokens": "100"}
    up.push(
        Raw(
            _anthropic_stream({"input_tokens": 5, "output_tokens": 1}, delta),
            content_type="text/event-stream",
        )
    )
    r = httpx.post(
        gw.openai_base + "/chat/completions",
        json={"model": "tok-claude", "messages": USER, "stream": True},
        headers={"authorization": f"Bearer {admin}"},
        timeout=20,
    )
    if r.status_code == 502:  # the whole answer came in one read, before the gateway answered
        error = r.json()
    else:  # it had begun the stream: it ends with an error event
        error = check_openai_stream(r.content, include_usage=False, allow_error=True)[-1]
    assert "malformed" in error["error"]["message"], error
