"""Local stand-ins for the OpenAI and Anthropic HTTP APIs, for tests.

`FakeUpstream` is a real aiohttp server on 127.0.0.1 (ephemeral port) running in a background
thread with its own event loop, so sync and async tests can both use it. It speaks the exact wire
formats (JSON bodies, SSE framing, error bodies, request-id headers) described in the saved specs.

    with FakeUpstream() as up:
        up.push(Reply(text="Hello there", input_tokens=12, output_tokens=3))
        ...  # point the code under test at up.openai_base / up.anthropic_base
        assert up.requests[0].body["model"] == "gpt-4o-mini"

Each call pops the next behaviour from a FIFO queue (any endpoint). With the queue empty the
fake echoes: "Echo: " + the last user message text, honouring max_tokens and stop sequences,
unless `faults(rate, [...])` makes that share of the calls misbehave at random.

`kill()` stops the server so that connections to its port are refused; `revive()` serves again
on the same port (with the same queue and record).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import hashlib
import json
import random
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import responses

# ---------------------------------------------------------------------------------------------
# Behaviours: what the next call does.


@dataclass(frozen=True)
class Reply:
    """Answer with this text (max_tokens / stop from the request still apply)."""

    text: str
    # All input tokens, the cached ones included, as OpenAI counts them (Anthropic's wire
    # `input_tokens` leaves the cache reads and writes out). None: the words of the request's
    # messages, plus the cache reads and writes.
    input_tokens: int | None = None
    output_tokens: int | None = None  # None: count words of the reply; reasoning included
    cache_read_tokens: int = 0  # part of the input, read from the prompt cache
    cache_write_tokens: int = 0  # part of the input, written to the prompt cache
    reasoning_tokens: int = 0  # part of the output
    finish: str | None = None  # force finish_reason/stop_reason; either API's vocabulary
    delay: float = 0.0  # seconds before the response starts
    chunk_delay: float = 0.0  # seconds between streamed events
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolReply:
    """Answer with a tool call (optionally preceded by text). `more` adds parallel calls."""

    name: str
    arguments: str = "{}"  # JSON text of the arguments
    text: str | None = None
    id: str | None = None
    more: tuple[tuple[str, str], ...] = ()  # extra (name, arguments) calls
    input_tokens: int | None = None
    output_tokens: int | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fail:
    """HTTP error with the provider's error body (by path) and optional retry-after."""

    status: int = 500
    retry_after: str | None = None
    message: str | None = None
    error_type: str | None = None  # default: the provider's type for the status
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer; after `seconds` the connection is closed."""

    seconds: float = 30.0


@dataclass(frozen=True)
class BreakStream:
    """Start answering, then close the connection abruptly after `after_chunks` SSE events.

    Non-streaming requests get the headers and half of the JSON body before the close."""

    after_chunks: int = 2
    text: str | None = None  # None: the echo text


@dataclass(frozen=True)
class StreamError:
    """Stream `after_chunks` events, then the provider's in-stream error event, then end."""

    after_chunks: int = 2
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass(frozen=True)
class Malformed:
    """200 with an invalid JSON body, or an SSE stream containing a broken data line."""


@dataclass(frozen=True)
class Raw:
    """Answer these exact bytes (e.g. a golden stream)."""

    body: bytes | str
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Behaviour = Reply | ToolReply | Fail | Hang | BreakStream | StreamError | Malformed | Raw


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case keys; repeated headers joined with ", "
    query: dict[str, str]
    body: dict[str, Any] | None  # parsed JSON object, else None
    raw: bytes = b""


# ---------------------------------------------------------------------------------------------
# Request reading and reply planning (provider-neutral).

_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    408: ("timeout", None),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_TO_OPENAI = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_TO_ANTHROPIC = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def _words(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    """Word-by-word stream pieces that join back to `text`."""
    return re.findall(r"\s*\S+|\s+$", text)


def _texts(content: Any) -> list[str]:
    """Text of a message content: a string, or text parts/blocks (also inside tool results)."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif part.get("type") == "tool_result":
                    out.extend(_texts(part.get("content")))
    return out


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


@dataclass
class _Plan:
    text: str | None
    tools: list[tuple[str, str, str]]  # (id, name, arguments)
    finish: str  # either API's vocabulary; mapped when rendered
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def finish_reason(self) -> str:
        return _TO_OPENAI.get(self.finish, self.finish)

    @property
    def stop_reason(self) -> str:
        if self.finish == "stop" and self.stop_sequence:
            return "stop_sequence"
        return _TO_ANTHROPIC.get(self.finish, self.finish)


def _conversation(api: str, body: dict[str, Any]) -> tuple[str, int]:
    """(last user text, word count of all message texts + system)."""
    messages = body.get("messages") or []
    texts = _texts(body.get("system")) if api == "anthropic" else []
    last_user = ""
    for m in messages:
        if not isinstance(m, dict):
            continue
        parts = _texts(m.get("content"))
        texts.extend(parts)
        if m.get("role") == "user":
            last_user = " ".join(p for p in parts if p)
    return last_user, sum(_words(t) for t in texts)


def _apply_limits(api: str, body: dict[str, Any], text: str) -> tuple[str, str, str | None]:
    """Cut `text` by the request's max tokens (in words) and stop sequences."""
    if api == "anthropic":
        limit = body.get("max_tokens")
        stops = body.get("stop_sequences") or []
    else:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
    allowed = text
    if isinstance(limit, int) and limit >= 0 and _words(text) > limit:
        allowed = "".join(_pieces(text)[:limit])
    hits = [(text.find(s), s) for s in stops if isinstance(s, str) and s and s in text]
    if hits:
        at, stop = min(hits)
        if at + len(stop) <= len(allowed):
            return text[:at], "stop", stop
    if allowed != text:
        return allowed, "length", None
    return text, "stop", None


def _plan(api: str, body: dict[str, Any], b: Behaviour | None) -> _Plan:
    last_user, in_words = _conversation(api, body)
    if isinstance(b, ToolReply):
        calls = [(b.id or _new_id("toolu_" if api == "anthropic" else "call_"), b.name, b.arguments)]
        calls += [(_new_id("toolu_" if api == "anthropic" else "call_"), n, a) for n, a in b.more]
        out = _words(b.text or "") + sum(_words(a) for _, _, a in calls)
        return _Plan(
            b.text,
            calls,
            "tool_calls",
            None,
            in_words if b.input_tokens is None else b.input_tokens,
            out if b.output_tokens is None else b.output_tokens,
        )
    given = b.text if isinstance(b, Reply | BreakStream) else None
    source = "Echo: " + last_user if given is None else given
    text, finish, stop = _apply_limits(api, body, source)
    if isinstance(b, Reply) and b.finish:
        finish, stop = b.finish, None
    if not isinstance(b, Reply):
        return _Plan(text, [], finish, stop, in_words, _words(text))
    cached = b.cache_read_tokens + b.cache_write_tokens
    return _Plan(
        text,
        [],
        finish,
        stop,
        in_words + cached if b.input_tokens is None else b.input_tokens,
        _words(text) if b.output_tokens is None else b.output_tokens,
        b.cache_read_tokens,
        b.cache_write_tokens,
        b.reasoning_tokens,
    )


def _responses_plan(body: dict[str, Any], b: Behaviour | None) -> _Plan:
    """A Responses request planned as chat is: echo of the last user text, limits, tool replies."""
    last_user, texts = responses.conversation(body)
    chat = {"messages": [{"role": "user", "content": last_user}], "max_tokens": body.get("max_output_tokens")}
    plan = _plan("openai", chat, b)
    if not (isinstance(b, Reply | ToolReply) and b.input_tokens is not None):
        plan.input_tokens = sum(_words(t) for t in texts)
    return plan


# ---------------------------------------------------------------------------------------------
# Wire rendering.


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _fragments(arguments: str, size: int = 8) -> list[str]:
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


def _openai_usage(p: _Plan) -> dict[str, Any]:
    return {
        "prompt_tokens": p.input_tokens,
        "completion_tokens": p.output_tokens,
        "total_tokens": p.input_tokens + p.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": p.cache_read_tokens,
            "cache_write_tokens": p.cache_write_tokens,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": p.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _openai_json(p: _Plan, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": p.text, "refusal": None, "annotations": []}
    if p.tools:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in p.tools
        ]
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": p.finish_reason}],
        "usage": _openai_usage(p),
    }


def _openai_events(p: _Plan, model: str, include_usage: bool) -> list[str]:
    base: dict[str, Any] = {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        c = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            c["usage"] = None
        return "data: " + _dumps(c) + "\n\n"

    first: dict[str, Any] = {"role": "assistant", "content": "" if p.text is not None else None}
    events = [chunk({**first, "refusal": None})]
    events += [chunk({"content": piece}) for piece in _pieces(p.text or "")]
    for index, (call_id, name, arguments) in enumerate(p.tools):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        events += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": frag}}]})
            for frag in _fragments(arguments)
            if frag
        ]
    events.append(chunk({}, p.finish_reason))
    if include_usage:
        events.append("data: " + _dumps({**base, "choices": [], "usage": _openai_usage(p)}) + "\n\n")
    return [*events, "data: [DONE]\n\n"]


def _anthropic_usage(p: _Plan) -> dict[str, Any]:
    """Anthropic's input_tokens leaves out the cache reads and writes (the writes: 5-minute ones).
    Reasoning goes in `output_tokens_details`, which the SDK reads and the saved spec predates."""
    usage: dict[str, Any] = {
        "input_tokens": p.input_tokens - p.cache_read_tokens - p.cache_write_tokens,
        "output_tokens": p.output_tokens,
        "cache_creation_input_tokens": p.cache_write_tokens,
        "cache_read_input_tokens": p.cache_read_tokens,
        "cache_creation": {"ephemeral_5m_input_tokens": p.cache_write_tokens, "ephemeral_1h_input_tokens": 0},
        "server_tool_use": None,
        "service_tier": "standard",
        "inference_geo": None,
    }
    if p.reasoning_tokens:
        usage["output_tokens_details"] = {"thinking_tokens": p.reasoning_tokens}
    return usage


def _anthropic_blocks(p: _Plan) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if p.text is not None:
        blocks.append({"type": "text", "text": p.text, "citations": None})
    for call_id, name, arguments in p.tools:
        blocks.append(
            {
                "type": "tool_use",
                "id": call_id,
                "name": name,
                "input": _json_object(arguments),
                "caller": {"type": "direct"},
            }
        )
    return blocks


def _json_object(arguments: str) -> Any:
    """Tool input for Anthropic; arguments that are not JSON (a deliberate test case) give {}."""
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return {}


def _anthropic_json(p: _Plan, model: str) -> dict[str, Any]:
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _anthropic_blocks(p),
        "stop_reason": p.stop_reason,
        "stop_sequence": p.stop_sequence,
        "stop_details": None,
        "container": None,
        "usage": _anthropic_usage(p),
    }


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {_dumps(event)}\n\n"


def _anthropic_events(p: _Plan, model: str) -> list[str]:
    start = {**_anthropic_json(p, model), "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {
        **{k: v for k, v in start["usage"].items() if k != "output_tokens_details"},  # with the output
        "output_tokens": min(1, p.output_tokens),
    }
    events = [_sse({"type": "message_start", "message": start})]
    for index, block in enumerate(_anthropic_blocks(p)):
        if block["type"] == "text":
            opening = {"type": "text", "text": "", "citations": None}
            deltas = [{"type": "text_delta", "text": t} for t in (_pieces(block["text"]) or [""])]
        else:
            opening = {**block, "input": {}}
            arguments = p.tools[index - (p.text is not None)][2]
            deltas = [{"type": "input_json_delta", "partial_json": f} for f in ["", *_fragments(arguments)]]
        events.append(_sse({"type": "content_block_start", "index": index, "content_block": opening}))
        if index == 0:
            events.append(_sse({"type": "ping"}))
        events += [_sse({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(_sse({"type": "content_block_stop", "index": index}))
    usage = {
        k: v
        for k, v in _anthropic_usage(p).items()
        if k not in ("cache_creation", "service_tier", "inference_geo")
    }
    delta = {
        "stop_reason": p.stop_reason,
        "stop_sequence": p.stop_sequence,
        "stop_details": None,
        "container": None,
    }
    events.append(_sse({"type": "message_delta", "delta": delta, "usage": usage}))
    return [*events, _sse({"type": "message_stop"})]


def _error_body(
    api: str, status: int, message: str | None, error_type: str | None, rid: str
) -> dict[str, Any]:
    if api == "anthropic":
        etype = (
            error_type
            or _ANTHROPIC_ERRORS.get(status)
            or ("api_error" if status >= 500 else "invalid_request_error")
        )
        msg = message or ("Overloaded" if etype == "overloaded_error" else f"fake upstream error {status}")
        return {"type": "error", "error": {"type": etype, "message": msg}, "request_id": rid}
    etype, code = _OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    msg = message or f"fake upstream error {status}"
    return {"error": {"message": msg, "type": error_type or etype, "param": None, "code": code}}


MAX_EMBEDDING_DIMENSIONS = 3072  # text-embedding-3-large's; more is a 400, as from OpenAI


def embedding_for(text: str | list[int], dimensions: int = 8) -> list[float]:
    """The fake's deterministic embedding of one input (float32-exact values in [-1, 1))."""
    key = text if isinstance(text, str) else _dumps(text)
    raw = struct.unpack(f"<{dimensions}I", hashlib.shake_256(key.encode()).digest(4 * dimensions))
    floats = [u / 2**31 - 1.0 for u in raw]
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *floats)))


# ---------------------------------------------------------------------------------------------
# The server.


class FakeUpstream:
    """OpenAI + Anthropic stand-in on 127.0.0.1; see the module docstring."""

    def __init__(
        self, *, models: tuple[str, ...] = ("fake-model",), api_key: str | None = None, embedding_dim: int = 8
    ) -> None:
        self.models = models
        self.api_key = api_key  # when set, calls without this key get a 401
        self.embedding_dim = embedding_dim
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._fault_rate = 0.0
        self._faults: list[Behaviour] = []
        self._rng = random.Random(0)
        self._requests: list[Recorded] = []
        self._disconnects = 0
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    # -- public API --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base(self) -> str:
        return self.url

    @property
    def azure_endpoint(self) -> str:
        """For `AzureOpenAI(azure_endpoint=...)`: /openai/deployments/{name}/chat/completions."""
        return self.url

    def push(self, *behaviours: Behaviour) -> None:
        with self._cond:
            self._queue.extend(behaviours)

    @property
    def requests(self) -> list[Recorded]:
        with self._cond:
            return list(self._requests)

    @property
    def calls(self) -> int:
        with self._cond:
            return len(self._requests)

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    @property
    def disconnects(self) -> int:
        """Streams the client abandoned before the fake finished writing them."""
        with self._cond:
            return self._disconnects

    def faults(self, rate: float, behaviours: list[Behaviour], seed: int = 0) -> None:
        """With the queue empty, answer `rate` of the calls with one of `behaviours`, drawn at
        random (seeded); 0 turns it off."""
        with self._cond:
            self._fault_rate, self._faults, self._rng = rate, list(behaviours), random.Random(seed)

    def _next_behaviour(self) -> Behaviour | None:
        if self._queue:
            return self._queue.popleft()
        if self._fault_rate and self._rng.random() < self._fault_rate:
            return self._rng.choice(self._faults)
        return None

    def kill(self) -> None:
        """Stop serving: open connections are closed and new ones refused, until `revive()`."""
        self.stop()

    def revive(self) -> FakeUpstream:
        return self.start(self.port)

    def reset(self) -> None:
        with self._cond:
            self._fault_rate = 0.0
            self._queue.clear()
            self._requests.clear()
            self._disconnects = 0

    def wait_for_calls(self, n: int, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._requests) >= n, timeout)

    def start(self, port: int = 0) -> FakeUpstream:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(1024)
        self.port = self._sock.getsockname()[1]
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="fake-upstream", daemon=True
        )
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError("fake upstream failed to start") from failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server thread -----------------------------------------------------------------------

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as e:
            failure.append(e)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    async def _startup(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        assert self._sock is not None
        await web.SockSite(self._runner, self._sock, backlog=1024).start()

    async def _shutdown(self) -> None:
        assert self._stopping is not None and self._runner is not None
        self._stopping.set()
        await self._runner.cleanup()

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when it is stopping."""
        assert self._stopping is not None
        if seconds <= 0:
            return self._stopping.is_set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    # -- request handling --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers: dict[str, str] = {}
        for k, v in request.headers.items():
            key = k.lower()
            headers[key] = f"{headers[key]}, {v}" if key in headers else v
        rec = Recorded(
            request.method,
            request.path,
            headers,
            dict(request.query),
            body if isinstance(body, dict) else None,
            raw,
        )
        with self._cond:
            self._requests.append(rec)
            behaviour = self._next_behaviour()
            self._cond.notify_all()

        path = request.path.rstrip("/")
        api = "anthropic" if path.endswith(("/messages", "/messages/count_tokens")) else "openai"
        rid = _new_id("req_")
        id_header = {"request-id" if api == "anthropic" else "x-request-id": rid}

        def error(
            status: int,
            message: str | None = None,
            etype: str | None = None,
            extra: Mapping[str, str] | None = None,
        ) -> web.Response:
            return web.json_response(
                _error_body(api, status, message, etype, rid),
                status=status,
                headers={**id_header, **(extra or {})},
                dumps=_dumps,
            )

        if isinstance(behaviour, Hang):
            await self._sleep(behaviour.seconds)
            return self._drop(request)
        if isinstance(behaviour, Fail):
            extra = dict(behaviour.headers)
            if behaviour.retry_after is not None:
                extra["retry-after"] = behaviour.retry_after
            return error(behaviour.status, behaviour.message, behaviour.error_type, extra)
        if isinstance(behaviour, Raw):
            data = behaviour.body.encode() if isinstance(behaviour.body, str) else behaviour.body
            return web.Response(
                body=data,
                status=behaviour.status,
                content_type=None,
                headers={"content-type": behaviour.content_type, **id_header, **behaviour.headers},
            )
        if self.api_key is not None and not self._authorised(api, path, headers):
            return error(401, "Incorrect API key provided.")

        method = request.method
        if method == "GET" and path.endswith("/models"):
            data = [
                {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in self.models
            ]
            return await self._answer(request, behaviour, {"object": "list", "data": data}, id_header)
        if method == "POST" and path.endswith("/messages/count_tokens") and isinstance(body, dict):
            if "model" not in body or not isinstance(body.get("messages"), list):
                return error(400, "model and messages: Field required")
            if "max_tokens" in body or "stream" in body:
                return error(400, "max_tokens: Extra inputs are not permitted")
            return web.json_response({"input_tokens": _conversation(api, body)[1]}, headers=id_header)
        if method == "POST" and path.endswith("/responses") and isinstance(body, dict):
            if "model" not in body or "input" not in body:
                return error(400, "Missing required parameter: 'model' and 'input'.")
            plan = _responses_plan(body, behaviour)
            answer = (plan.text, plan.tools, plan.finish_reason, plan.input_tokens, plan.output_tokens)
            seed = _new_id("")
            if not body.get("stream"):
                payload = responses.response_json(answer, body["model"], body, seed)
                return await self._answer(request, behaviour, payload, id_header)
            events = responses.response_events(answer, body["model"], body, seed, _pieces(plan.text or ""))
            return await self._stream(request, behaviour, api, events, id_header)
        if method != "POST" or not path.endswith(("/chat/completions", "/messages", "/embeddings")):
            return error(
                404,
                f"Unknown request URL: {method} {request.path}",
                "not_found_error" if api == "anthropic" else None,
            )
        if not isinstance(body, dict):
            return error(400, "We could not parse the JSON body of your request.")
        if path.endswith("/embeddings"):
            if "input" not in body or "model" not in body:
                return error(400, "'input' and 'model' are required properties")
            dims = body.get("dimensions")
            if dims is not None and not (isinstance(dims, int) and 1 <= dims <= MAX_EMBEDDING_DIMENSIONS):
                return error(400, f"Invalid value for 'dimensions' = {dims}: at most {MAX_EMBEDDING_DIMENSIONS}.")
            return await self._answer(request, behaviour, self._embeddings(body), id_header)

        problem = self._check_chat(api, body)
        if problem:
            return error(400, problem)
        model = body.get("model") or path.split("/deployments/")[-1].split("/")[0]
        plan = _plan(api, body, behaviour)
        if not body.get("stream"):
            payload = _anthropic_json(plan, model) if api == "anthropic" else _openai_json(plan, model)
            return await self._answer(request, behaviour, payload, id_header)
        if api == "anthropic":
            events = _anthropic_events(plan, model)
        else:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _openai_events(plan, model, include_usage)
        return await self._stream(request, behaviour, api, events, id_header)

    def _authorised(self, api: str, path: str, headers: dict[str, str]) -> bool:
        offered = {headers.get("authorization", "").removeprefix("Bearer ").strip()}
        offered.add(headers.get("x-api-key" if api == "anthropic" else "api-key", ""))
        return self.api_key in offered

    @staticmethod
    def _check_chat(api: str, body: dict[str, Any]) -> str | None:
        """The few request errors the real APIs would answer with 400."""
        required = ("model", "messages", "max_tokens") if api == "anthropic" else ("messages",)
        for key in required:
            if key not in body:
                return f"{key}: Field required"
        if not isinstance(body["messages"], list) or not body["messages"]:
            return "messages: at least one message is required"
        if api == "anthropic":  # a system message anywhere: the API since mid-2026 (SDK 2.x types)
            for i, m in enumerate(body["messages"]):
                if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
                    return f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'"
        return None

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inp = body["input"]
        if isinstance(inp, str) or (isinstance(inp, list) and inp and isinstance(inp[0], int)):
            items = [inp]
        else:
            items = list(inp)
        dim = body.get("dimensions") or self.embedding_dim
        data = []
        for i, item in enumerate(items):
            vector: Any = embedding_for(item, dim)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        tokens = sum(_words(x) if isinstance(x, str) else len(x) for x in items)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def _drop(self, request: web.Request, started: web.StreamResponse | None = None) -> web.StreamResponse:
        """Close the connection without (finishing) an answer."""
        if request.transport is not None:
            request.transport.close()
        # aiohttp still wants a response object; writing to the closed transport is a no-op.
        return started if started is not None else web.Response(status=204)

    async def _answer(
        self,
        request: web.Request,
        behaviour: Behaviour | None,
        payload: dict[str, Any],
        headers: dict[str, str],
    ) -> web.StreamResponse:
        if isinstance(behaviour, Reply | ToolReply):
            await self._sleep(behaviour.delay)
            headers = {**headers, **behaviour.headers}
        data = _dumps(payload).encode()
        if isinstance(behaviour, Malformed):
            data = data[: len(data) // 2]
        if isinstance(behaviour, BreakStream):
            resp = web.StreamResponse(headers={"content-type": "application/json", **headers})
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: len(data) // 2])
            return self._drop(request, resp)
        return web.Response(body=data, content_type="application/json", headers=headers)

    async def _stream(
        self,
        request: web.Request,
        behaviour: Behaviour | None,
        api: str,
        events: list[str],
        headers: dict[str, str],
    ) -> web.StreamResponse:
        chunk_delay = 0.0
        if isinstance(behaviour, Reply | ToolReply):
            await self._sleep(behaviour.delay)
            headers = {**headers, **behaviour.headers}
            chunk_delay = behaviour.chunk_delay
        if isinstance(behaviour, StreamError):
            if api == "anthropic":
                err = {"type": "error", "error": {"type": behaviour.error_type, "message": behaviour.message}}
                tail = _sse(err)
            else:
                err = {
                    "error": {
                        "message": behaviour.message,
                        "type": behaviour.error_type,
                        "param": None,
                        "code": None,
                    }
                }
                tail = "data: " + _dumps(err) + "\n\n"
            events = [*events[: behaviour.after_chunks], tail]
        elif isinstance(behaviour, Malformed):
            broken = 'event: content_block_start\ndata: {"type": "content_block_start", "index": 0,\n\n'
            if api == "openai":
                broken = 'data: {"id": "chatcmpl-broken", "choices": [{"delta": {"content": "oops"\n\n'
            events = [events[0], broken, events[-1]]
        resp = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                **headers,
            }
        )
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for n, event in enumerate(events):
                if isinstance(behaviour, BreakStream) and n >= behaviour.after_chunks:
                    return self._drop(request, resp)
                if n and chunk_delay and await self._sleep(chunk_delay):
                    return self._drop(request, resp)
                await resp.write(event.encode())
            await resp.write_eof()
        except ConnectionResetError:
            with self._cond:
                self._disconnects += 1
        return resp


def closed_port_url() -> str:
    """An http://127.0.0.1:PORT URL where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
