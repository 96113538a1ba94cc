"""The per-request flow shared by every client API: parse, route, call, answer, log one usage row."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from multimodel.auth.keys import KeyRecord, check_model
from multimodel.auth.middleware import key_of
from multimodel.config.schema import Price
from multimodel.errors import GatewayError, invalid
from multimodel.gateway import Gateway
from multimodel.routing import attempts
from multimodel.routing.router import Route
from multimodel.store.usage import UsageRow
from multimodel.types import ChatRequest, ChatResult, Event, Finish, TextDelta, ToolCallStart

log = logging.getLogger("multimodel")

# Cap on request bodies: larger ones get a 413 in the caller's format before any parsing.
MAX_BODY = 32 * 1024 * 1024
# Set in a request's ASGI scope by the server (multimodel.server) when its body timed out: a 408
# is logged then, not a client that left.
READ_TIMED_OUT = "multimodel.read_timed_out"
# Cap on the nesting of arrays and objects in a request body: far above any real tool schema, far
# below the 255 levels at which orjson (and so the upstream request) would fail.
MAX_DEPTH = 64


class Encoder(Protocol):
    def start(self) -> bytes: ...
    def event(self, ev: Event) -> bytes: ...
    def end(self) -> bytes: ...
    def error(self, err: GatewayError) -> bytes: ...


class ClientFormat(Protocol):
    """What a client API contributes to the shared flow. Formats subclass it for the two hooks'
    defaults (nothing to do): only a stateful API (the Responses API's stored conversations)
    needs them, and such a format is made per request."""

    name: str

    def parse(self, body: dict[str, Any]) -> ChatRequest: ...
    def render(self, result: ChatResult, request_id: str, model: str) -> bytes: ...
    def encoder(self, request_id: str, req: ChatRequest) -> Encoder: ...
    def error_response(self, err: GatewayError, request_id: str | None) -> Response: ...

    async def prepare(self, req: ChatRequest) -> None:
        """After parsing, before routing: load what the request refers to (may add to `req`)."""
        return None  # a body, not a stub: mypy would call a stub abstract

    async def complete(self, request_id: str, req: ChatRequest, result: ChatResult) -> None:
        """The answer is whole: keep it, before the client reads its end (render, Encoder.end).
        Never raises for a failure of its own: the client has paid for the answer."""
        return None


class _Ids:
    """Random request ids from a pooled os.urandom read: one syscall per ~680 ids, not per request."""

    __slots__ = ("pool", "pos")

    def __init__(self) -> None:
        self.pool, self.pos = b"", 0

    def next(self) -> str:
        if self.pos + 12 > len(self.pool):
            self.pool, self.pos = os.urandom(8192), 0
        self.pos += 12
        return "req_" + self.pool[self.pos - 12 : self.pos].hex()


new_request_id = _Ids().next


async def read_json(request: Request) -> dict[str, Any]:
    try:
        raw = await _read_body(request)
    except ClientDisconnect:
        raise _unread(request) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if str(e).startswith("depth limit"):  # orjson's own limit, 1024 levels
            raise _too_deep() from None
        raise invalid(
            f"the request body is not valid JSON ({e.args[0] if e.args else 'parse error'})"
        ) from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    if _deeper_than(body, MAX_DEPTH):
        raise _too_deep()
    return body


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        raise GatewayError("request_too_large", f"request body over {MAX_BODY} bytes")
    if length is not None:
        raw = await request.body()
        if len(raw) > MAX_BODY:  # a content-length that understated the body
            raise GatewayError("request_too_large", f"request body over {MAX_BODY} bytes")
        return raw
    # chunked: count while reading, so an endless body cannot fill the memory
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY:
            raise GatewayError("request_too_large", f"request body over {MAX_BODY} bytes")
        parts.append(part)
    return b"".join(parts)


def _unread(request: Request) -> GatewayError:
    """The request body never came whole: the client left, or (the server's read timeout) stalled."""
    if request.scope.get(READ_TIMED_OUT):
        return GatewayError("request_timeout", "the request body did not arrive in time")
    return GatewayError("client_disconnected", "the client closed the connection before its request ended")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest in `value` more than `limit` deep: level by level, so that
    nothing recurses, and each value is looked at once. Its cost follows the number of values, not
    the bytes: a scan of the text for brackets would cost more than parsing a long prompt."""
    level = [value]
    for _ in range(limit):
        level = [
            v
            for c in level
            for v in (c.values() if type(c) is dict else c)
            if type(v) is dict or type(v) is list
        ]
        if not level:
            return False
    return True


def _too_deep() -> GatewayError:
    return invalid(f"the request body nests JSON deeper than {MAX_DEPTH} levels")


def check_capabilities(route: Route, req: ChatRequest) -> None:
    missing = route.provider.capabilities.missing(req)
    if missing is None and req.native is not None and req.native.unmodelled:
        # Fields only the client's own API can take: every deployment must speak it.
        missing = next((m for d in route.deployments if (m := d.provider.capabilities.missing(req))), None)
    if missing is not None:
        raise invalid(f"model {req.model!r} does not support {missing[0]}", missing[1])


# What passes on with a request sent to an upstream of the client's own API (NativeRequest).
FORWARD_HEADERS = ("anthropic-beta",)
FORWARD_QUERY = ("beta",)


def forward(request: Request, req: ChatRequest) -> None:
    native = req.native
    if native is not None:
        native.headers = {h: v for h in FORWARD_HEADERS if (v := request.headers.get(h))}
        native.query = {q: v for q in FORWARD_QUERY if (v := request.query_params.get(q))}


class _Log:
    """Collects one request's usage row as the request goes, then hands it to the writer once."""

    __slots__ = ("gw", "key", "price", "row", "t0")

    def __init__(
        self, gw: Gateway, api_format: str, endpoint: str, request_id: str, key: KeyRecord | None = None
    ) -> None:
        self.gw = gw
        self.t0 = time.perf_counter()
        self.key = key
        self.price: Price | None = None  # the answering deployment's
        self.row = UsageRow(
            request_id, time.time(), api_format, endpoint, "", None, None, False, 200, None, 0.0, None
        )
        if key is not None:
            self.row.key_id = key.id
        gw.open_rows.add(request_id)

    def route(self, route: Route, stream: bool) -> None:
        self.row.public_model = route.config.name
        self.row.provider = route.config.first.provider
        self.row.upstream_model = route.config.first.model
        self.row.stream = stream

    def answered(self, answer: attempts.Answer) -> None:
        """The model and deployment that answered (a fallback's, or another deployment's)."""
        config = answer.deployment.config
        self.row.public_model = answer.route.name
        self.row.provider = config.provider
        self.row.upstream_model = config.model
        self.price = config.price

    def first_token(self) -> None:
        if self.row.ttft_ms is None:
            self.row.ttft_ms = (time.perf_counter() - self.t0) * 1000

    def done(
        self,
        result: ChatResult | None,
        status: int,
        error: str | None,
        req: ChatRequest | None = None,
    ) -> None:
        row = self.row
        row.status = status
        row.error_type = error
        row.latency_ms = (time.perf_counter() - self.t0) * 1000
        if result is not None:
            usage = result.usage
            row.input_tokens, row.output_tokens = usage.input_tokens, usage.output_tokens
            row.cache_read_tokens, row.cache_write_tokens = usage.cache_read_tokens, usage.cache_write_tokens
            row.reasoning_tokens = usage.reasoning_tokens
            if self.price is not None:
                row.cost_usd = self.price.cost(usage)
            if self.gw.settings.log_content:
                row.answer = (
                    result.text
                    if not result.tool_calls
                    else orjson.dumps({"text": result.text, "tool_calls": result.tool_calls}).decode()
                )
        if req is not None:
            row.user = req.user
            if self.gw.settings.log_content:
                row.prompt = orjson.dumps(req.messages).decode()
        self.gw.log_usage(row)


async def serve_chat(gw: Gateway, request: Request, fmt: ClientFormat, endpoint: str = "chat") -> Response:
    """Answer a client's chat request in its own format."""
    ulog = _Log(gw, fmt.name, endpoint, new_request_id(), key_of(request))
    return await _answer(gw, fmt, ulog, request=request)


async def serve_prepared(
    gw: Gateway,
    fmt: ClientFormat,
    req: ChatRequest,
    route: Route,
    endpoint: str,
    key: KeyRecord | None = None,
    request_id: str | None = None,
) -> Response:
    """Answer a request the gateway built itself (the arena's) on a given route, through the same
    flow and usage log as serve_chat. The answer shows `req.model`, which may hide the route's name;
    the usage row has the real one. `request_id`: one the caller recorded before the call."""
    ulog = _Log(gw, fmt.name, endpoint, request_id or new_request_id(), key)
    return await _answer(gw, fmt, ulog, req=req, route=route)


async def _answer(
    gw: Gateway,
    fmt: ClientFormat,
    ulog: _Log,
    *,
    request: Request | None = None,
    req: ChatRequest | None = None,
    route: Route | None = None,
) -> Response:
    request_id = ulog.row.request_id
    try:
        if req is None:
            assert request is not None
            body = await read_json(request)
            model = body.get("model")
            ulog.row.public_model = model if isinstance(model, str) else ""
            req = fmt.parse(body)
            forward(request, req)
            check_model(ulog.key, req.model)
            await fmt.prepare(req)
        # The arena's prepared requests stay on their model: a fallback would answer for another.
        fallbacks = route is None
        if route is None:
            route = gw.router.resolve(req.model, ulog.key.models if ulog.key is not None else None)
            if route.config.name != req.model:  # an alias (`auto`) chose the model: the answer names it
                ulog.row.route, req.model = req.model, route.config.name
        ulog.route(route, req.stream)
        check_capabilities(route, req)
        # Retries and failovers happen in here, before anything is sent: an upstream that fails
        # before its first content gets another try or a real error status, not a 200 with an
        # error event.
        answer = await attempts.answer(route, req, ulog.row.attempts, fallbacks=fallbacks)
        ulog.answered(answer)
        if req.native is not None:  # the answering upstream speaks the client's API: relay its answer
            req.native.relay = req.native.format in answer.deployment.provider.capabilities.wires
        if answer.route is not route:  # a fallback answered: the answer names it
            ulog.row.route, req.model = ulog.row.route or req.model, answer.route.name
        if req.stream:
            return StreamingResponse(
                _stream(ulog, req, fmt, request_id, answer.head, answer.rest),
                media_type="text/event-stream",
                headers=_stream_headers(request_id),
            )
        result = ChatResult()
        for ev in answer.head:
            if ulog.row.ttft_ms is None and isinstance(ev, TextDelta | ToolCallStart):
                ulog.first_token()
            result.add(ev)
        await fmt.complete(request_id, req, result)
        ulog.done(result, 200, None, req)
        return Response(
            fmt.render(result, request_id, req.model),
            media_type="application/json",
            headers={"x-request-id": request_id},
        )
    except GatewayError as err:
        ulog.done(None, err.status, err.kind, req)
        return fmt.error_response(err, request_id)
    except asyncio.CancelledError:
        # The server cancels what still runs when its shutdown grace ends. Nothing above this
        # handler waits on the cancellation: answer in the caller's format and log the row (the
        # upstream may bill the call) instead of dying with a bare 500 and no row.
        cut = shutdown_error()
        ulog.done(None, cut.status, cut.kind, req)
        return fmt.error_response(cut, request_id)
    except Exception as e:  # a bug of ours: answer cleanly, keep the trace in the server log only
        log.error("request %s failed: %s", request_id, e.__class__.__name__, exc_info=True)
        bug = GatewayError("api_error", "internal error in the gateway")
        ulog.done(None, 500, bug.kind, req)
        return fmt.error_response(bug, request_id)


def shutdown_error() -> GatewayError:
    return GatewayError("shutdown", "the gateway shut down before the answer was ready; try again")


def _stream_headers(request_id: str) -> dict[str, str]:
    return {"x-request-id": request_id, "cache-control": "no-cache", "x-accel-buffering": "no"}


async def _stream(
    ulog: _Log,
    req: ChatRequest,
    fmt: ClientFormat,
    request_id: str,
    first: list[Event],
    events: AsyncIterator[Event | list[Event]] | None,
) -> AsyncIterator[bytes]:
    """Encode the provider's events for the client: one write per batch the provider yields (one
    per upstream network read), so a burst of upstream chunks costs one send, not one each."""
    enc = fmt.encoder(request_id, req)
    result = ChatResult()
    error: str | None = "client_disconnected"  # until the stream ends one way or another
    try:
        out = enc.start()
        item: Event | list[Event] | None = first
        finished = False
        while item is not None:
            for ev in item if isinstance(item, list) else (item,):
                if ulog.row.ttft_ms is None and isinstance(ev, TextDelta | ToolCallStart):
                    ulog.first_token()
                result.add(ev)
                out += enc.event(ev)
                finished = type(ev) is Finish  # by contract the last event of an answer
            if finished:
                break
            if out:
                yield out
                out = b""
            item = await anext(events, None) if events is not None else None
        await fmt.complete(request_id, req, result)
        error = None
        yield out + enc.end()
    except GatewayError as err:
        # Headers are sent: end the stream with an error event in the caller's format.
        error = err.kind
        yield enc.error(err)
    except Exception as e:
        log.error("stream %s failed: %s", request_id, e.__class__.__name__, exc_info=True)
        error = "api_error"
        yield enc.error(GatewayError("api_error", "internal error in the gateway"))
    except asyncio.CancelledError:
        if not ulog.gw.stopping:  # the client left
            raise
        # Cut by the end of the shutdown grace: end the stream with an error event, as for an error.
        cut = shutdown_error()
        error = cut.kind
        yield enc.error(cut)
    finally:
        try:
            if events is not None:
                await _aclose(events)
        finally:  # even when a cancellation interrupts the close
            ulog.done(result, 200, error, req)


async def _aclose(events: AsyncIterator[Event | list[Event]]) -> None:
    close: Callable[[], Any] | None = getattr(events, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:
            log.debug("provider stream did not close cleanly", exc_info=True)
