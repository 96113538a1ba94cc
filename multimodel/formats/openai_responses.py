"""OpenAI Responses as a client-facing format, request side: a POST /v1/responses body -> the
canonical request, and the response record its answer will fill (the parameters the response
object echoes, the input items in OpenAI's shapes: openai_responses_items). The response side
(response object, SSE events) is in openai_responses_output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from multimodel.errors import echo, invalid
from multimodel.formats import fields as f
from multimodel.formats.openai_chat import effort
from multimodel.formats.openai_responses_items import messages, parse_input
from multimodel.store.responses import ResponseRecord
from multimodel.types import ChatRequest, Message, NativeRequest, TextPart, Tool, ToolChoice

_SUMMARIES = (None, "auto", "concise", "detailed")
_VERBOSITY = (None, "low", "medium", "high")
# Fields that change what the API does and that this gateway cannot do: refused, not ignored.
_UNSUPPORTED = {
    "conversation": "the Conversations API is not supported; use previous_response_id",
    "prompt": "stored prompts are not supported",
}


@dataclass(slots=True)
class Parsed:
    chat: ChatRequest
    record: ResponseRecord  # id unset until the request id is known; input_items: the new items
    store: bool
    system: int  # how many of chat.messages are `instructions`: a stored conversation goes after them


def parse_request(body: dict[str, Any]) -> Parsed:
    model = f.req_str(body, "model")
    for key, why in _UNSUPPORTED.items():
        if body.get(key) is not None:
            raise invalid(f"'{key}': {why}", key)
    if f.opt_bool(body, "background"):
        raise invalid("'background': background responses are not supported", "background")
    previous = f.opt_str(body, "previous_response_id")
    raw_input = body.get("input")
    if raw_input is None and previous is None:
        raise invalid("'input' is required (a string or an array of input items)", "input")
    items = [] if raw_input is None else parse_input(raw_input)
    if not items and previous is None:
        raise invalid("'input' holds no message or function call", "input")
    instructions = f.opt_str(body, "instructions")
    system = [Message("system", [TextPart(instructions)])] if instructions else []
    unmodelled: list[str] = []
    tools, tool_echo = _tools(f.opt_list(body, "tools"), unmodelled)
    parallel = f.opt_bool(body, "parallel_tool_calls")
    choice, choice_echo = _tool_choice(body.get("tool_choice"), parallel)
    response_format, text_echo = _text(body.get("text"))
    reasoning_effort, reasoning_echo = _reasoning(body.get("reasoning"))
    max_tokens = f.opt_int(body, "max_output_tokens", lo=1)
    temperature = f.opt_num(body, "temperature", 0.0, 2.0)
    top_p = f.opt_num(body, "top_p", 0.0, 1.0)
    user = f.opt_str(body, "user")
    store = f.opt_bool(body, "store")
    chat = ChatRequest(
        model=model,
        messages=system + messages(items),
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        tools=tools,
        tool_choice=choice,
        response_format=response_format,
        user=user,
        stream=bool(f.opt_bool(body, "stream")),
        reasoning_effort=reasoning_effort,
        native=NativeRequest("responses", body, unmodelled),
    )
    # `truncation`, `include`, `top_logprobs`, `service_tier`, `prompt_cache_key`, ... are accepted
    # and have no effect: the answer is the same without them (a too-long input fails upstream).
    settings = {
        "tools": tool_echo,
        "tool_choice": choice_echo,
        "parallel_tool_calls": True if parallel is None else parallel,
        "text": text_echo,
        "reasoning": reasoning_echo,
        "max_output_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "user": user,
    }
    record = ResponseRecord(
        id="",
        created_at=time.time(),
        model=model,
        previous_response_id=previous,
        instructions=instructions,
        metadata=_metadata(body.get("metadata")),
        input_items=items,
        settings=settings,
    )
    return Parsed(chat, record, store is not False, len(system))


# --- parameters ----------------------------------------------------------------------------


def _tools(raw: list[Any], unmodelled: list[str]) -> tuple[list[Tool], list[dict[str, Any]]]:
    tools, echoed = [], []
    for i, t in enumerate(raw):
        w = f"tools[{i}]"
        t = f.obj(t, w)
        kind = t.get("type")
        if not isinstance(kind, str):
            raise invalid(f"'{w}.type' must be a string", f"{w}.type")
        if kind != "function":
            # Built-in tools (web_search, file_search, code_interpreter, mcp, ...), namespaces and
            # custom tools run inside OpenAI's service: passed to an OpenAI upstream as written,
            # and a 400 naming the tool for any other (NativeRequest).
            unmodelled.append(w)
            echoed.append(t)
            continue
        name = f.req_str(t, "name", w + ".")
        params = t.get("parameters") or {"type": "object", "properties": {}}
        params = f.obj(params, f"{w}.parameters")
        description = f.opt_str(t, "description", w + ".")
        strict = f.opt_bool(t, "strict", w + ".")  # echoed; the canonical Tool has no such flag
        tools.append(Tool(name, description, params))
        echoed.append(
            {
                "type": "function",
                "name": name,
                "description": description,
                "parameters": params,
                "strict": strict,
            }
        )
    return tools, echoed


def _tool_choice(v: Any, parallel: bool | None) -> tuple[ToolChoice | None, Any]:
    par = True if parallel is None else parallel
    if v is None:
        return (None if parallel is None else ToolChoice("auto", parallel=par)), "auto"
    if v in ("auto", "none", "required"):
        return ToolChoice(v, parallel=par), v
    if isinstance(v, dict) and v.get("type") == "function":
        name = f.req_str(v, "name", "tool_choice.")
        return ToolChoice("tool", name=name, parallel=par), {"type": "function", "name": name}
    if isinstance(v, dict) and "type" in v:
        raise invalid(f"tool_choice type {echo(v['type'])} is not supported", "tool_choice.type")
    raise invalid("'tool_choice' must be 'none', 'auto', 'required' or {type: function, name}", "tool_choice")


def _text(v: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(canonical response_format, the `text` the response echoes)."""
    if v is None:
        return None, {"format": {"type": "text"}}
    v = f.obj(v, "text")
    echoed: dict[str, Any] = {}
    if v.get("verbosity") not in _VERBOSITY:
        raise invalid("'text.verbosity' must be one of low, medium, high", "text.verbosity")
    if v.get("verbosity") is not None:
        echoed["verbosity"] = v["verbosity"]  # echoed only: the chat APIs have no such knob
    fmt = f.obj(v["format"], "text.format") if v.get("format") is not None else {"type": "text"}
    kind = fmt.get("type")
    if kind == "text":
        echoed["format"] = {"type": "text"}
        return None, echoed
    if kind == "json_object":
        echoed["format"] = {"type": "json_object"}
        return {"type": "json_object"}, echoed
    if kind != "json_schema":
        raise invalid("'text.format.type' must be one of text, json_object, json_schema", "text.format.type")
    schema: dict[str, Any] = {
        "name": f.req_str(fmt, "name", "text.format."),
        "schema": f.obj(fmt.get("schema"), "text.format.schema"),
    }
    description = f.opt_str(fmt, "description", "text.format.")
    strict = f.opt_bool(fmt, "strict", "text.format.")
    if description is not None:
        schema["description"] = description
    if strict is not None:
        schema["strict"] = strict
    echoed["format"] = {"type": "json_schema", **schema}
    return {"type": "json_schema", "json_schema": schema}, echoed


def _reasoning(v: Any) -> tuple[str | None, dict[str, Any]]:
    if v is None:
        return None, {"effort": None, "summary": None}
    v = f.obj(v, "reasoning")
    level = effort(v.get("effort"), "reasoning.effort")
    summary = v.get("summary")
    if summary not in _SUMMARIES:
        raise invalid("'reasoning.summary' must be one of auto, concise, detailed", "reasoning.summary")
    # A summary is echoed and not produced: the canonical events carry no reasoning text yet.
    return level, {"effort": level, "summary": summary}


def _metadata(v: Any) -> dict[str, str]:
    if v is None:
        return {}
    v = f.obj(v, "metadata")
    if len(v) > 16:
        raise invalid("'metadata' may hold at most 16 pairs", "metadata")
    for key, value in v.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise invalid(
                "'metadata' keys must be strings of at most 64 characters, values of at most 512",
                "metadata",
            )
    return v
