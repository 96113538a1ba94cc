"""A Responses request to an `openai` model goes to the upstream's own /v1/responses as written
(built-in tools, include, namespaces...), its events come back as it sent them (ids and model
the gateway's), and the gateway still stores it, logs it and continues it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai

from tests.fakes.upstream import FakeUpstream, Reply, ToolReply
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess

CODEX_LIKE: dict[str, Any] = {
    "model": "gpt-responses",
    "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]}],
    "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {}}},
        {"type": "web_search"},
        {"type": "namespace", "name": "multi_agent_v1", "tools": []},
    ],
    "reasoning": {"summary": "auto"},
    "include": ["reasoning.encrypted_content"],
    "prompt_cache_key": "abc",
    "client_metadata": {"x": "y"},
    "store": False,
    "stream": True,
}


def test_a_responses_request_reaches_openai_as_written(gateway: GatewayProcess, up: FakeUpstream) -> None:
    up.push(Reply("Here are the files."))
    r = httpx.post(gateway.openai_base + "/responses", json=CODEX_LIKE, timeout=30)
    assert r.status_code == 200, r.text
    sent = up.requests[-1]
    assert sent.path == "/v1/responses" and sent.body == CODEX_LIKE | {"model": "gpt-4o-mini"}
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    rid = r.headers["x-request-id"].removeprefix("req_")
    assert final["id"] == f"resp_{rid}" and final["model"] == "gpt-responses" and final["store"] is False
    assert (
        "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        == "Here are the files."
    )


def test_stored_native_responses_continue_and_are_logged(gateway: GatewayProcess, up: FakeUpstream) -> None:
    client = openai.OpenAI(base_url=gateway.openai_base, api_key="k", max_retries=0)
    up.push(ToolReply(name="lookup", arguments='{"q": "x"}'))
    first = client.responses.create(model="gpt-responses", input="Find x", tools=[{"type": "web_search"}])  # type: ignore[list-item]
    call = first.output[0]
    assert call.type == "function_call" and first.model == "gpt-responses" and first.id.startswith("resp_")
    up.push(Reply("Found it."))
    second = client.responses.create(
        model="gpt-responses",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "x is 42"}],
    )
    assert second.output_text == "Found it."
    sent = up.requests[-1].body or {}
    assert "previous_response_id" not in sent  # the upstream does not know the gateway's ids
    kinds = [i.get("type") for i in sent["input"]]
    assert kinds[-2:] == ["function_call", "function_call_output"] and all(
        "id" not in i for i in sent["input"][:-1]
    )
    assert client.responses.retrieve(second.id).output_text == "Found it."
    database = f"sqlite:///{gateway.workdir / 'usage.db'}"
    rid = "req_" + second.id.removeprefix("resp_")
    deadline = time.monotonic() + 10
    while not (mine := [r for r in rows(database, "usage") if r["request_id"] == rid]):
        assert time.monotonic() < deadline, "no usage row"
        time.sleep(0.05)
    assert (mine[0]["api_format"], mine[0]["public_model"], mine[0]["status"]) == ("responses", "gpt-responses", 200)
