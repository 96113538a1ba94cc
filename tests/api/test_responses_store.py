"""Stored responses end to end, on SQLite (keys off) and on PostgreSQL (keys on): retrieve, delete,
input_items, previous_response_id, store=false, another key's response, the usage row, a failed
store, and the in-house model answering through the Responses API."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from multimodel.config.load import MODELS_DIR
from tests.conftest import KEY_ENV, standard_models
from tests.fakes.upstream import FakeUpstream, Reply, ToolReply
from tests.support.databases import postgres_schema, rows
from tests.support.gateway import GatewayProcess
from tests.support.responses_stream import check_responses_stream
from tests.support.specs import validate

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}


@dataclass
class Side:
    """A gateway, a client of it (with a key when keys are on), and its database URL."""

    gw: GatewayProcess
    key: str
    database: str

    @property
    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.gw.openai_base, api_key=self.key, max_retries=0)

    def http(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.key}"}
        return httpx.request(method, self.gw.openai_base + path, headers=headers, json=body, timeout=20)


def make_key(gw: GatewayProcess, name: str) -> str:
    """`multimodel keys create NAME`, as an operator would run it."""
    out = subprocess.run(
        [sys.executable, "-m", "multimodel.cli", "keys", "create", name, "--config", str(gw.config_path)],
        cwd=gw.workdir,
        env=gw.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def keyed(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Side, Side]]:
    """A gateway on PostgreSQL with keys required (and house-tiny); two keys' sides of it."""
    workdir = tmp_path_factory.mktemp("responses-pg")
    tiny = {"name": "house-tiny", "provider": "inhouse", "model": str(MODELS_DIR / "house-tiny")}
    with postgres_schema() as database:
        config = {
            "database": database,
            "models": [*standard_models(upstream), tiny],
            "auth": {"require_keys": True, "refresh_seconds": 0.2},
        }
        with GatewayProcess(workdir, config, env=KEY_ENV) as gw:
            yield Side(gw, make_key(gw, "alice"), database), Side(gw, make_key(gw, "bob"), database)


@pytest.fixture(params=["sqlite", "postgres"])
def side(request: pytest.FixtureRequest, gateway: GatewayProcess, up: FakeUpstream) -> Side:
    if request.param == "sqlite":
        return Side(gateway, "client-key", f"sqlite:///{gateway.workdir / 'usage.db'}")
    alice, _ = request.getfixturevalue("keyed")
    return alice


def sent(up: FakeUpstream) -> dict[str, Any]:
    body = up.requests[-1].body
    assert body is not None
    return body


def test_retrieve_list_input_items_and_delete(side: Side, up: FakeUpstream) -> None:
    client = side.client
    raw = client.responses.with_raw_response.create(
        model="gpt-test",
        instructions="Be brief.",
        metadata={"ticket": "T-7"},
        input=[
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": "three"},
        ],
    )
    created = raw.http_response.json()
    assert created["store"] is True
    got = side.http("GET", f"/responses/{created['id']}")
    assert got.status_code == 200 and got.json() == created
    validate("openai", "Response", got.json())
    assert client.responses.retrieve(created["id"]).output_text == "Echo: three"

    listed = client.responses.input_items.list(created["id"])
    assert [i.content[0].text for i in listed.data] == ["three", "two", "one"]  # newest first
    page = side.http("GET", f"/responses/{created['id']}/input_items?order=asc&limit=2").json()
    validate("openai", "ResponseItemList", page)
    assert [i["content"][0]["text"] for i in page["data"]] == ["one", "two"] and page["has_more"] is True
    rest = side.http(
        "GET", f"/responses/{created['id']}/input_items?order=asc&after={page['last_id']}"
    ).json()
    assert [i["content"][0]["text"] for i in rest["data"]] == ["three"] and rest["has_more"] is False
    assert side.http("GET", f"/responses/{created['id']}/input_items?limit=0").status_code == 400

    deleted = side.http("DELETE", f"/responses/{created['id']}")
    assert deleted.json() == {"id": created["id"], "object": "response", "deleted": True}
    for method, path in (
        ("GET", f"/responses/{created['id']}"),
        ("DELETE", f"/responses/{created['id']}"),
        ("GET", f"/responses/{created['id']}/input_items"),
    ):
        r = side.http(method, path)
        assert r.status_code == 404, (method, path)
        validate("openai", "ErrorResponse", r.json())
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created["id"])


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_previous_response_id_continues_the_conversation(side: Side, up: FakeUpstream, model: str) -> None:
    client = side.client
    first = client.responses.create(model=model, input="My name is Ada", instructions="Be terse.")
    second = client.responses.create(
        model=model, previous_response_id=first.id, input="What is my name?", instructions="Be kind."
    )
    assert second.previous_response_id == first.id and second.instructions == "Be kind."
    body = sent(up)
    if model == "claude-test":  # the earlier turns, and only this request's instructions
        assert body["system"] == "Be kind."
        assert [(m["role"], m["content"][0]["text"]) for m in body["messages"]] == [
            ("user", "My name is Ada"),
            ("assistant", "Echo: My name is Ada"),
            ("user", "What is my name?"),
        ]
    else:
        assert body["messages"] == [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "My name is Ada"},
            {"role": "assistant", "content": "Echo: My name is Ada"},
            {"role": "user", "content": "What is my name?"},
        ]
    items = client.responses.input_items.list(second.id, order="asc").data
    assert [i.id for i in items] == [
        *[i.id for i in client.responses.input_items.list(first.id).data],
        first.output[0].id,
        items[-1].id,
    ]


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
def test_a_tool_result_continues_a_stored_tool_call(side: Side, up: FakeUpstream, model: str) -> None:
    client = side.client
    up.push(ToolReply(name="get_weather", arguments='{"city": "Oslo"}'))
    first = client.responses.create(model=model, input="Weather in Oslo?", tools=[WEATHER])
    call = first.output[0]
    assert call.type == "function_call"
    up.push(Reply(text="Snowing."))
    with client.responses.stream(
        model=model,
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "snow, -3C"}],
    ) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Snowing."
    body = sent(up)
    if model == "claude-test":
        assert body["messages"][1]["content"][0]["id"] == call.call_id
        assert body["messages"][2]["content"][0]["tool_use_id"] == call.call_id
    else:
        validate("openai", "CreateChatCompletionRequest", body)
        assert body["messages"][1]["tool_calls"][0]["id"] == call.call_id
        assert body["messages"][2] == {"role": "tool", "tool_call_id": call.call_id, "content": "snow, -3C"}
    # The streamed answer was stored as it was streamed.
    assert client.responses.retrieve(final.id).output[0].id == final.output[0].id


def test_an_unknown_previous_response_is_404(side: Side) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        side.client.responses.create(model="gpt-test", previous_response_id="resp_nope", input="x")
    assert e.value.body["code"] == "previous_response_not_found"
    assert e.value.body["param"] == "previous_response_id"


def test_store_false_is_not_kept(side: Side) -> None:
    r = side.client.responses.create(model="gpt-test", input="forget me", store=False)
    assert r.store is False
    with pytest.raises(openai.NotFoundError):
        side.client.responses.retrieve(r.id)
    with pytest.raises(openai.NotFoundError):
        side.client.responses.create(model="gpt-test", previous_response_id=r.id, input="x")


def test_another_keys_response_does_not_exist_for_it(keyed: tuple[Side, Side]) -> None:
    alice, bob = keyed
    r = alice.client.responses.create(model="gpt-test", input="mine")
    for method, path in (
        ("GET", f"/responses/{r.id}"),
        ("GET", f"/responses/{r.id}/input_items"),
        ("DELETE", f"/responses/{r.id}"),
    ):
        assert bob.http(method, path).status_code == 404
    with pytest.raises(openai.NotFoundError):
        bob.client.responses.create(model="gpt-test", previous_response_id=r.id, input="yours?")
    assert alice.client.responses.retrieve(r.id).output_text == "Echo: mine"
    alice.client.responses.delete(r.id)  # the SDK's own call
    with pytest.raises(openai.NotFoundError):
        alice.client.responses.retrieve(r.id)


def test_house_tiny_answers(keyed: tuple[Side, Side]) -> None:
    alice, _ = keyed
    r = alice.client.responses.create(model="house-tiny", input="ROMEO:", max_output_tokens=12)
    assert r.output_text and r.model == "house-tiny"
    assert r.status == "completed" or r.incomplete_details.reason == "max_output_tokens"
    assert alice.client.responses.retrieve(r.id).output_text == r.output_text
    body = {"model": "house-tiny", "input": "JULIET:", "max_output_tokens": 12, "stream": True}
    raw = alice.http("POST", "/responses", body).content
    end = "response.completed" if b"event: response.completed" in raw else "response.incomplete"
    events = check_responses_stream(raw, end=end)
    assert events[-1]["response"]["output"][0]["content"][0]["text"]


def test_each_call_is_one_usage_row(gateway: GatewayProcess, up: FakeUpstream) -> None:
    up.push(Reply(text="a b c", input_tokens=5, output_tokens=3))
    r = httpx.post(gateway.openai_base + "/responses", json={"model": "gpt-test", "input": "x"}, timeout=20)
    request_id = r.headers["x-request-id"]
    row = _usage_row(f"sqlite:///{gateway.workdir / 'usage.db'}", request_id)
    assert (row["api_format"], row["endpoint"], row["public_model"], row["status"]) == (
        "responses",
        "responses",
        "gpt-test",
        200,
    )
    assert (row["input_tokens"], row["output_tokens"], row["stream"]) == (5, 3, False)
    # The response id names its answer for feedback, as chat ids do.
    rated = httpx.post(gateway.openai_base + "/feedback", json={"request_id": r.json()["id"], "rating": "up"})
    assert rated.status_code == 200 and rated.json()["request_id"] == request_id
    body = {"model": "gpt-test", "tools": [{"type": "mcp"}], "input": "x"}
    bad = httpx.post(gateway.openai_base + "/responses", json=body, timeout=20)
    assert (
        _usage_row(f"sqlite:///{gateway.workdir / 'usage.db'}", bad.headers["x-request-id"])["status"] == 400
    )


def _usage_row(database: str, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10  # the writer writes in batches, in the background
    while time.monotonic() < deadline:
        found = [r for r in rows(database, "usage") if r["request_id"] == request_id]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no usage row for {request_id}")


@contextmanager
def _table_gone(path: Path) -> Iterator[None]:
    """The responses table renamed away under the running gateway: every store fails."""
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("ALTER TABLE responses RENAME TO responses_away")
    try:
        yield
    finally:
        conn.execute("ALTER TABLE responses_away RENAME TO responses")
        conn.close()


def test_a_failed_store_still_answers_and_says_so(gateway: GatewayProcess, up: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=gateway.openai_base, api_key="k", max_retries=0)
    with _table_gone(gateway.workdir / "usage.db"):
        r = client.responses.create(model="gpt-test", input="keep me")
        s = httpx.post(
            gateway.openai_base + "/responses",
            json={"model": "claude-test", "input": "keep me too", "stream": True},
            timeout=20,
        )
    assert r.output_text == "Echo: keep me" and r.store is False
    final = check_responses_stream(s.content)[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Echo: keep me too" and final["store"] is False
    for rid in (r.id, final["id"]):
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(rid)
        assert f"responses: {rid} was not stored" in gateway.log()
