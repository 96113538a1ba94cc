"""The HTTP server `multimodel serve` runs: uvicorn with httptools, plus what uvicorn lacks: read
timeouts for clients, and a gateway that knows when its shutdown began.

uvicorn times out only idle keep-alive connections. A client that sends its headers a byte at a
time, or stops halfway through its body, would hold a connection (and a request) for ever. The
protocol below gives a request's headers `client_header_timeout_s` from its first byte (or from
the connection), and lets its body pause at most `client_body_timeout_s`; then it answers 408 in
the caller's error format and closes the connection. On a kept-alive connection a request whose
head and body arrive in one read, nearly every one, arms no timer at all.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import orjson
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from multimodel.api.flow import READ_TIMED_OUT
from multimodel.app import create_app
from multimodel.errors import GatewayError
from multimodel.formats import anthropic_messages, openai_chat
from multimodel.gateway import Gateway

log = logging.getLogger("multimodel")

_IDLE, _HEADERS, _BODY = 0, 1, 2  # what the connection waits for from its client


class ReadTimeouts(HttpToolsProtocol):
    """uvicorn's httptools protocol, timing its reads. Which part of a request is missing is read
    off uvicorn's own state after each read: no parser callback is wrapped, and a request that came
    whole in one read costs two comparisons."""

    header_timeout_s = 30.0
    body_timeout_s = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._request: object = None  # the scope of the request the header deadline is for
        self._deadline = 0.0  # of the headers
        self._last = 0.0  # when bytes last came

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        now = self.loop.time()  # a new connection owes its first request
        self._deadline, self._last = now + self.header_timeout_s, now
        self._timer = self.loop.call_at(self._deadline, self._check)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        cycle = self.cycle
        if cycle is not None and cycle.scope is self.scope and not cycle.more_body:
            return  # the request is all in
        if self.transport.is_closing():
            return
        now = self.loop.time()
        self._last = now
        if self.scope is not self._request:  # a new request began
            self._request, self._deadline = self.scope, now + self.header_timeout_s
        if self._timer is None:
            phase = self._phase()
            due = self._deadline if phase == _HEADERS else now + self.body_timeout_s
            self._timer = self.loop.call_at(due, self._check)

    def _phase(self) -> int:
        cycle = self.cycle
        if cycle is None or cycle.scope is not self.scope:  # on_headers_complete makes the cycle
            return _HEADERS
        return _BODY if cycle.more_body else _IDLE

    def _check(self) -> None:
        self._timer = None
        phase = self._phase()
        if phase == _IDLE or self.transport.is_closing():
            return
        now = self.loop.time()
        if self.flow.read_paused or self.pipeline:  # the server is not reading: no fault of the client's
            self._deadline, self._last = now + self.header_timeout_s, now
        due = self._deadline if phase == _HEADERS else self._last + self.body_timeout_s
        if now < due:
            self._timer = self.loop.call_at(due, self._check)
            return
        cycle = self.cycle
        if phase == _HEADERS:
            busy = cycle is not None and not cycle.response_complete  # an earlier request's answer
        else:
            busy = cycle.response_started  # answered without reading the whole body (a 404, say)
        if busy:  # a 408 would be taken for that answer, or cut into it
            self.transport.close()
            return
        if phase == _HEADERS:
            message = f"the request headers did not arrive within {self.header_timeout_s:g} s"
            anthropic = False
        else:  # the app waits for the body: it sees the client gone, and logs a 408 (flow.read_json)
            message = f"the request body paused for more than {self.body_timeout_s:g} s"
            anthropic = _anthropic(cycle.scope)
            cycle.scope[READ_TIMED_OUT] = True  # type: ignore[literal-required]
            cycle.disconnected = True
            cycle.message_event.set()
        log.debug("closing a connection: %s", message)
        err = GatewayError("request_timeout", message)
        body = orjson.dumps(
            anthropic_messages.error_body(err, None) if anthropic else openai_chat.error_body(err)
        )
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.close()


def _anthropic(scope: Any) -> bool:
    """As app._error_for decides, from the scope."""
    return bool(
        scope["path"].startswith("/v1/messages")
        or any(name == b"anthropic-version" for name, _ in scope["headers"])
    )


def _cut_quietly(app: ASGIApp, gateway: Gateway) -> ASGIApp:
    """uvicorn logs each request it cancels at the end of the shutdown grace as an error with a
    traceback; flow has answered and logged those already, so their cancellation stops here."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except asyncio.CancelledError:
            if not gateway.stopping:
                raise

    return wrapped


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(config)
        self.gateway = gateway

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.gateway.stopping = True  # a stream cut at the grace's end is logged as such
        await super().shutdown(sockets)


def server(gateway: Gateway, host: str, port: int, log_level: str) -> uvicorn.Server:
    """The uvicorn server `multimodel serve` runs the gateway's app with."""
    s = gateway.settings
    protocol = type(
        "GatewayProtocol",
        (ReadTimeouts,),
        {"header_timeout_s": s.client_header_timeout_s, "body_timeout_s": s.client_body_timeout_s},
    )
    config = uvicorn.Config(
        _cut_quietly(create_app(gateway), gateway),
        host=host,
        port=port,
        http=protocol,
        proxy_headers=False,  # client addresses are not used; skip the per-request middleware
        lifespan="on",
        access_log=False,
        log_level=log_level,
        ws="none",  # no WebSocket endpoints: an upgrade request is an ordinary request
        # Then uvicorn cancels what still runs: flow answers those 503 and logs their rows.
        timeout_graceful_shutdown=s.shutdown_grace_s,
    )
    return _Server(config, gateway)
