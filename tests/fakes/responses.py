"""The OpenAI Responses API as the fake upstream speaks it (POST /v1/responses): a planned answer as
a `response` object, or as the typed SSE events in the order the spec and the official SDK expect
(response.created, .in_progress, output items with their parts and deltas, .completed or
.incomplete), each with its `sequence_number`."""

from __future__ import annotations

import json
import time
from typing import Any

# What upstream.py's plan holds: (text, [(call_id, name, arguments)], finish, input, output tokens).
Plan = tuple[str | None, list[tuple[str, str, str]], str, int, int]


def conversation(body: dict[str, Any]) -> tuple[str, list[str]]:
    """(the last user text, every text of the input and instructions)."""
    texts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    items = body.get("input")
    if isinstance(items, str):
        return items, [*texts, items]
    last_user = ""
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        content = item.get("content", item.get("output"))
        parts = [content] if isinstance(content, str) else [
            p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ] if isinstance(content, list) else []  # fmt: skip
        texts += parts
        if item.get("role") == "user":
            last_user = " ".join(parts)
    return last_user, texts


def _ids(seed: str) -> tuple[str, str]:
    return f"resp_{seed}", f"msg_{seed}"


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _items(plan: Plan, msg_id: str) -> list[dict[str, Any]]:
    text, calls, _, _, _ = plan
    items: list[dict[str, Any]] = []
    if text is not None:
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        items.append(
            {"id": msg_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        )
    for k, (call_id, name, arguments) in enumerate(calls):
        items.append({"id": f"fc_{msg_id[4:]}_{k}", "type": "function_call", "status": "completed",
                      "call_id": call_id, "name": name, "arguments": arguments})  # fmt: skip
    return items


def response_json(
    plan: Plan, model: str, body: dict[str, Any], seed: str, status: str | None = None
) -> dict[str, Any]:
    resp_id, msg_id = _ids(seed)
    _, _, finish, input_tokens, output_tokens = plan
    done = status or ("incomplete" if finish == "length" else "completed")
    return {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": done,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if done == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": _items(plan, msg_id) if done != "in_progress" else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        **({"usage": _usage(input_tokens, output_tokens)} if done != "in_progress" else {}),
        **({"user": body["user"]} if isinstance(body.get("user"), str) else {}),
        "metadata": body.get("metadata") or {},
    }


def response_events(plan: Plan, model: str, body: dict[str, Any], seed: str, pieces: list[str]) -> list[str]:
    """The SSE events of a streamed answer; `pieces`: the text's deltas (they join to the text)."""
    final = response_json(plan, model, body, seed)
    events: list[dict[str, Any]] = []
    start = response_json(plan, model, body, seed, status="in_progress")
    events += [
        {"type": "response.created", "response": start},
        {"type": "response.in_progress", "response": start},
    ]
    for index, item in enumerate(final["output"]):
        opened = item | {"status": "in_progress"}
        if item["type"] == "message":
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": opened | {"content": []},
                }
            )
            part = item["content"][0]
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            events.append({"type": "response.content_part.added", **where, "part": part | {"text": ""}})
            events += [
                {"type": "response.output_text.delta", **where, "delta": p, "logprobs": []} for p in pieces
            ]
            events.append(
                {"type": "response.output_text.done", **where, "text": part["text"], "logprobs": []}
            )
            events.append({"type": "response.content_part.done", **where, "part": part})
        else:
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": opened | {"arguments": ""},
                }
            )
            where = {"item_id": item["id"], "output_index": index}
            args = item["arguments"]
            events += [{"type": "response.function_call_arguments.delta", **where, "delta": args[i : i + 8]}
                       for i in range(0, len(args), 8)]  # fmt: skip
            events.append({"type": "response.function_call_arguments.done", **where, "arguments": args})
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": f"response.{final['status']}", "response": final})
    return [
        f"event: {e['type']}\ndata: {json.dumps(e | {'sequence_number': n}, separators=(',', ':'))}\n\n"
        for n, e in enumerate(events)
    ]
