"""Every error class, in the caller's own API format and with the right status; never a trace,
never a provider key."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
import yaml

from tests.conftest import SECRETS
from tests.fakes.upstream import BreakStream, Fail, FakeUpstream, Hang, Malformed, StreamError
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_anthropic_stream, check_openai_stream, validate

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def oc(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.openai_base, api_key="k", max_retries=0)


@pytest.fixture
def ac(gateway: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)


def _no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text
    assert "Traceback" not in text


def test_unknown_model_lists_available_names(oc: openai.OpenAI, ac: anthropic.Anthropic) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        oc.chat.completions.create(model="gpt-9", messages=USER)  # type: ignore[arg-type]
    assert "gpt-test" in e.value.message and "claude-test" in e.value.message
    assert e.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(anthropic.NotFoundError) as e2:
        ac.messages.create(model="claude-9", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert e2.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "claude-test" in e2.value.body["error"]["message"]  # type: ignore[index]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/embeddings"])
def test_malformed_json_is_400(gateway: GatewayProcess, path: str) -> None:
    r = httpx.post(
        gateway.url + path,
        content=b'{"model": "gpt-test", "messages": [',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    body = r.json()
    if path == "/v1/messages":
        validate("anthropic", "ErrorResponse", body)
    else:
        validate("openai", "ErrorResponse", body)
    assert "JSON" in r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "gpt-test"}, "messages"),
        ({"model": "gpt-test", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"model": "gpt-test", "messages": USER, "temperature": 3}, "temperature"),
        ({"model": "gpt-test", "messages": USER, "max_tokens": 0}, "max_tokens"),
        (
            {"model": "gpt-test", "messages": USER, "tools": [{"type": "function", "function": {}}]},
            "tools[0].function.name",
        ),
        ({"model": "gpt-test", "messages": USER, "n": 3}, "n"),
        ({"messages": USER}, "model"),
    ],
)
def test_invalid_openai_fields_are_named(gateway: GatewayProcess, body: dict, field: str) -> None:
    r = httpx.post(gateway.openai_base + "/chat/completions", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == field and field in err["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"model": "claude-test", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].role",
        ),
        ({"model": "claude-test", "max_tokens": 5, "messages": USER, "temperature": 1.5}, "temperature"),
        (
            {"model": "claude-test", "max_tokens": 5, "messages": USER, "tool_choice": {"type": "maybe"}},
            "tool_choice.type",
        ),
    ],
)
def test_invalid_anthropic_fields_are_named(gateway: GatewayProcess, body: dict, field: str) -> None:
    r = httpx.post(gateway.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    assert r.status_code == 400
    assert field in r.json()["error"]["message"]


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_upstream_429_keeps_meaning_and_retry_after(
    oc: openai.OpenAI, ac: anthropic.Anthropic, up: FakeUpstream, model: str
) -> None:
    up.push(Fail(status=429, retry_after="7"))
    with pytest.raises(openai.RateLimitError) as e:
        oc.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
    assert e.value.response.headers["retry-after"] == "7"
    up.push(Fail(status=429, retry_after="3"))
    with pytest.raises(anthropic.RateLimitError) as e2:
        ac.messages.create(model=model, max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert e2.value.response.headers["retry-after"] == "3"
    assert e2.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_500_is_502(oc: openai.OpenAI, up: FakeUpstream, stream: bool) -> None:
    up.push(Fail(status=500, message="boom"))
    with pytest.raises(openai.InternalServerError) as e:
        oc.chat.completions.create(model="gpt-test", messages=USER, stream=stream)  # type: ignore[call-overload]
    assert e.value.status_code == 502


def test_upstream_529_overloaded(oc: openai.OpenAI, ac: anthropic.Anthropic, up: FakeUpstream) -> None:
    up.push(Fail(status=529))
    with pytest.raises(anthropic.InternalServerError) as e:
        ac.messages.create(model="claude-test", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert e.value.status_code == 529 and e.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    up.push(Fail(status=529))
    with pytest.raises(openai.InternalServerError) as e2:
        oc.chat.completions.create(model="claude-test", messages=USER)  # type: ignore[arg-type]
    assert e2.value.status_code == 503


def test_upstream_400_passes_through(ac: anthropic.Anthropic, up: FakeUpstream) -> None:
    up.push(Fail(status=400, message="prompt is too long"))
    with pytest.raises(anthropic.BadRequestError) as e:
        ac.messages.create(model="claude-test", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert "prompt is too long" in e.value.message


@pytest.mark.parametrize("model", ["slow-test", "slow-claude"])
def test_upstream_timeout_is_504(oc: openai.OpenAI, up: FakeUpstream, model: str) -> None:
    up.push(Hang(seconds=5))
    with pytest.raises(openai.APIStatusError) as e:
        oc.chat.completions.create(model=model, messages=USER, timeout=20)  # type: ignore[arg-type]
    assert e.value.status_code == 504


def test_refused_connection_is_502(oc: openai.OpenAI, ac: anthropic.Anthropic) -> None:
    with pytest.raises(openai.InternalServerError) as e:
        oc.chat.completions.create(model="down-test", messages=USER)  # type: ignore[arg-type]
    assert e.value.status_code == 502
    with pytest.raises(anthropic.APIStatusError) as e2:
        ac.messages.create(model="down-test", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert e2.value.status_code == 502 and e2.value.body["error"]["type"] == "api_error"  # type: ignore[index]


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_stream_broken_midway_ends_with_openai_error_event(
    gateway: GatewayProcess, up: FakeUpstream, model: str
) -> None:
    # After a few content chunks (an Anthropic stream opens with three events that carry no content).
    up.push(BreakStream(after_chunks=3 if model == "gpt-test" else 5))
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "a b c d e f g h"}]}
    r = httpx.post(gateway.openai_base + "/chat/completions", json=body, timeout=10)
    assert r.status_code == 200
    events = check_openai_stream(r.content, include_usage=False, allow_error=True)
    assert "error" in events[-1] and events[-1]["error"]["type"] == "api_error"
    _no_secrets(r.text)


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_stream_broken_midway_ends_with_anthropic_error_event(
    gateway: GatewayProcess, up: FakeUpstream, model: str
) -> None:
    up.push(BreakStream(after_chunks=3 if model == "gpt-test" else 5))
    body = {
        "model": model,
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "a b c d e f g"}],
    }
    r = httpx.post(
        gateway.url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}, timeout=10
    )
    events = check_anthropic_stream(r.content)
    assert events[-1]["type"] == "error"


def test_anthropic_midstream_error_event_is_relayed(ac: anthropic.Anthropic, up: FakeUpstream) -> None:
    up.push(StreamError(after_chunks=2))
    with (
        pytest.raises(anthropic.APIStatusError) as e,
        ac.messages.stream(model="claude-test", max_tokens=50, messages=USER) as s,
    ):
        s.get_final_message()
    assert e.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_upstream_is_502(oc: openai.OpenAI, up: FakeUpstream, stream: bool) -> None:
    up.push(Malformed())
    with pytest.raises(openai.APIError) as e:
        r = oc.chat.completions.create(model="gpt-test", messages=USER, stream=stream)  # type: ignore[call-overload]
        if stream:
            list(r)
    if isinstance(e.value, openai.APIStatusError):
        assert e.value.status_code == 502
    else:  # the stream had begun: the error arrived as an error event
        assert "malformed" in e.value.message


def test_unknown_path_and_method(gateway: GatewayProcess) -> None:
    r = httpx.get(gateway.url + "/v1/nothing-here")
    assert r.status_code == 404, r.text
    validate("openai", "ErrorResponse", r.json())
    # As OpenAI answers an unknown URL: not a model's 404, which SDKs and users read otherwise.
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["code"] == "unknown_url" and "/v1/nothing-here" in r.json()["error"]["message"]
    r = httpx.post(gateway.url + "/v1/messages/nothing-here", json={})
    assert r.status_code == 404, r.text
    validate("anthropic", "ErrorResponse", r.json())
    assert r.json()["error"]["type"] == "not_found_error"
    r = httpx.get(gateway.openai_base + "/chat/completions")
    assert r.status_code == 405 and "error" in r.json()


def test_no_provider_key_in_any_response_or_log(
    gateway: GatewayProcess, up: FakeUpstream, oc: openai.OpenAI
) -> None:
    up.push(Fail(status=401, message="Incorrect API key provided"))
    with pytest.raises(openai.InternalServerError) as e:
        oc.chat.completions.create(model="gpt-test", messages=USER)  # type: ignore[arg-type]
    _no_secrets(e.value.response.text)
    assert (
        up.requests[-1].headers["authorization"] == f"Bearer {SECRETS[0]}"
    )  # the key was really used upstream
    _no_secrets(httpx.get(gateway.url + "/ready").text + httpx.get(gateway.openai_base + "/models").text)
    _no_secrets(gateway.log())


@pytest.mark.parametrize(("status", "model"), [(401, "gpt-test"), (403, "claude-test")])
def test_an_upstream_refusing_the_gateways_key_is_a_502_for_the_client_and_a_warning_for_the_operator(
    gateway: GatewayProcess,
    up: FakeUpstream,
    oc: openai.OpenAI,
    ac: anthropic.Anthropic,
    status: int,
    model: str,
) -> None:
    """The client's own key is fine: a 401 would make SDKs and the web UI think it is not."""
    upstream_text = "Incorrect API key provided: sk-tes*****cdef"  # what OpenAI says, with key bits
    up.push(Fail(status=status, message=upstream_text))
    with pytest.raises(openai.InternalServerError) as e:
        oc.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
    up.push(Fail(status=status, message=upstream_text))
    with pytest.raises(anthropic.InternalServerError) as e2:
        ac.messages.create(model=model, max_tokens=5, messages=USER)  # type: ignore[arg-type]
    for response in (e.value.response, e2.value.response):
        assert response.status_code == 502 and response.headers["x-request-id"]
        assert "sk-" not in response.text and "Incorrect" not in response.text
    deadline = time.monotonic() + 5
    while f"deployment {model} ({'openai' if model == 'gpt-test' else 'anthropic'})" not in gateway.log():
        assert time.monotonic() < deadline, gateway.log()[-2000:]
        time.sleep(0.05)
    warning = next(line for line in gateway.log().splitlines() if f"deployment {model} " in line)
    assert "WARNING" in warning and f"HTTP {status}" in warning and "sk-" not in warning


def test_json_nested_too_deep_is_a_400_not_a_500(gateway: GatewayProcess, up: FakeUpstream) -> None:
    """orjson cannot write more than 255 levels: the upstream request would fail as our bug."""

    def ask(depth: int) -> httpx.Response:
        # Written by hand: Python's json (so the SDKs) cannot write 600 levels either.
        schema = '{"type": "object", "properties": {"x": ' * depth + '{"type": "string"}' + "}}" * depth
        tools = '[{"type": "function", "function": {"name": "f", "parameters": ' + schema + "}}]"
        body = (
            '{"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "tools": ' + tools + "}"
        )
        return httpx.post(gateway.openai_base + "/chat/completions", content=body.encode(), timeout=20)

    for depth in (128, 600):  # past orjson's writing limit, and past its reading limit (1024)
        r = ask(depth)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"] == "the request body nests JSON deeper than 64 levels"
    # The schema sits 5 levels deep and each of its levels takes 2: 63 levels in all still pass.
    assert ask(29).status_code == 200
    assert up.calls == 1


@pytest.mark.parametrize(
    "behaviour", [Fail(status=500), Fail(status=429, retry_after="1"), Malformed(), Hang(seconds=3)]
)
def test_each_failure_costs_exactly_one_upstream_call(
    gateway: GatewayProcess, oc: openai.OpenAI, up: FakeUpstream, behaviour: object
) -> None:
    """The gateway itself never retries behind the caller's back (retries are the caller's or a
    configured policy's decision), so a failed call is never made twice by accident."""
    up.push(behaviour)  # type: ignore[arg-type]
    with pytest.raises(openai.APIStatusError) as e:
        oc.chat.completions.create(model="slow-test", messages=USER, timeout=20)  # type: ignore[arg-type]
    request_id = e.value.response.headers["x-request-id"]
    # The usage row is written when the request's flow has ended: no retry can come after it, and
    # its attempts (written in the same transaction) list every upstream call made for it.
    database = yaml.safe_load(Path(gateway.config_path or "").read_text())["database"]
    deadline = time.monotonic() + 10
    while not any(r["request_id"] == request_id for r in rows(database, "usage")):
        assert time.monotonic() < deadline, "no usage row for the failed request"
        time.sleep(0.05)
    tried = [a for a in rows(database, "attempts") if a["request_id"] == request_id]
    assert [(a["n"], a["outcome"]) for a in tried] == [(1, "error")]
    assert up.calls == 1


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_body_over_the_cap_is_413_in_the_callers_format(gateway: GatewayProcess, path: str) -> None:
    from multimodel.api.flow import MAX_BODY

    r = httpx.post(
        gateway.url + path, content=b" " * (MAX_BODY + 1), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413, r.text
    if path == "/v1/messages":  # Anthropic's errors page has this type; its spec's enum lacks it
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "request_too_large"
    else:
        validate("openai", "ErrorResponse", r.json())


def test_a_chunked_body_is_cut_off_at_the_cap_not_read_to_its_end(gateway: GatewayProcess) -> None:
    """A chunked upload has no length to check first: the gateway answers 413 once it has read
    the cap, while the body is still coming (an endless one cannot fill its memory)."""
    from multimodel.api.flow import MAX_BODY

    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
        piece = b" " * (1 << 20)
        for _ in range(MAX_BODY // len(piece) + 1):  # past the cap, and never the final empty chunk
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
