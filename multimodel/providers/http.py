"""Upstream HTTP calls shared by the HTTP providers: one pooled aiohttp session, timeouts,
errors mapped to the canonical tree, and an SSE reader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson

from multimodel.config.schema import Timeouts
from multimodel.errors import GatewayError, kind_for_status

# Upstream error bodies are read up to this size: enough for a message, bounded for safety.
_MAX_ERROR_BODY = 64 * 1024


def new_session() -> aiohttp.ClientSession:
    """One long-lived session for all upstreams: keep-alive pooling per host. aiohttp sets
    TCP_NODELAY on its connections, so small request writes are not held back by Nagle."""
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60)
    # auto_decompress stays on; no cookies: upstream calls are stateless.
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        json_serialize=lambda o: orjson.dumps(o).decode(),
        raise_for_status=False,
    )


def client_timeout(t: Timeouts) -> aiohttp.ClientTimeout:
    # sock_read bounds the wait for the first byte and every silence between stream chunks.
    return aiohttp.ClientTimeout(total=t.total, sock_connect=t.connect, sock_read=t.first_byte)


ErrorParser = Callable[[Any, int], GatewayError]


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    timeouts: Timeouts,
    parse_error: ErrorParser,
    params: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    """POST JSON once (never retried here) and return the response with a 2xx status, or raise."""
    try:
        resp = await session.post(
            url, data=orjson.dumps(body), headers=headers, params=params, timeout=client_timeout(timeouts)
        )
    except TimeoutError:
        raise GatewayError("timeout", "upstream did not answer in time") from None
    except aiohttp.ClientConnectorError:
        raise _connection("upstream connection failed (refused or unreachable)") from None
    except aiohttp.ClientError as e:
        raise _connection(f"upstream request failed ({e.__class__.__name__})") from None
    if resp.status in (401, 403):
        # The gateway's own key (or its account) was refused: the operator's problem, not the
        # client's. Passed on, a 401 would tell SDKs and the UI that the client's key is wrong.
        # The upstream's text stays out: it may quote part of the key.
        resp.release()
        err = GatewayError("upstream", "the model's provider refused the gateway's credentials")
        err.upstream_status = resp.status
        raise err
    if resp.status >= 400:
        async with resp:
            data = await _error_json(resp)
        err = parse_error(data, resp.status)
        err.kind = kind_for_status(resp.status)
        err.status = _client_status(resp.status)
        err.retry_after = resp.headers.get("retry-after")
        err.upstream_status = resp.status
        if resp.status == 400 and _context_length(data):
            err.condition, err.code = "context_length", "context_length_exceeded"
        raise err
    return resp


def _connection(message: str) -> GatewayError:
    err = GatewayError("upstream", message)
    err.condition = "connection"
    return err


# How upstreams say a prompt is over the context window: OpenAI's code, and message wordings
# (Anthropic: "prompt is too long"; OpenAI-compatible servers: "maximum context length").
_CONTEXT_WORDS = ("prompt is too long", "maximum context length", "context length", "context window")


def _context_length(data: Any) -> bool:
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return False
    if err.get("code") == "context_length_exceeded":
        return True
    message = err.get("message")
    return isinstance(message, str) and any(w in message.lower() for w in _CONTEXT_WORDS)


def _client_status(status: int) -> int:
    """Upstream 4xx keep their status (and meaning); 5xx become 502 (bad gateway), 504 stays."""
    if status < 500:
        return status
    if status in (503, 529, 504):
        return 529 if status == 503 else status
    return 502


async def _error_json(resp: aiohttp.ClientResponse) -> Any:
    try:
        raw = await resp.content.read(_MAX_ERROR_BODY)
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, aiohttp.ClientError, TimeoutError):
        return {"error": {"message": f"HTTP {resp.status}"}}


async def read_json(resp: aiohttp.ClientResponse) -> Any:
    async with resp:
        try:
            return orjson.loads(await resp.read())
        except orjson.JSONDecodeError:
            raise GatewayError("upstream", "upstream returned invalid JSON") from None
        except TimeoutError:
            raise GatewayError("timeout", "upstream did not finish its answer in time") from None
        except aiohttp.ClientError as e:
            raise _connection(f"upstream connection broke ({e.__class__.__name__})") from None


SSEEvent = tuple[str | None, bytes]  # (event name, data)


async def iter_sse(resp: aiohttp.ClientResponse) -> AsyncIterator[list[SSEEvent]]:
    """Yield the server-sent events of each network read as one list, parsed by the WHATWG rules
    the SDKs use. Batching per read lets the caller answer with one write per read, not per event."""
    buffer = b""
    try:
        async for data in resp.content.iter_any():
            buffer += data
            if b"\r" in buffer:
                buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            blocks = buffer.split(b"\n\n")
            buffer = blocks.pop()  # an incomplete event waits for the next read
            events = [e for e in map(_parse_event, blocks) if e is not None]
            if events:
                yield events
        last = _parse_event(buffer)
        if last is not None:
            yield [last]
    except TimeoutError:
        raise GatewayError("timeout", "upstream stream stalled past its timeout") from None
    except aiohttp.ClientError as e:
        raise _connection(f"upstream stream broke ({e.__class__.__name__})") from None
    finally:
        resp.release()


def _parse_event(block: bytes) -> SSEEvent | None:
    event: str | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode()
    return (event, b"\n".join(data)) if data else None


def sse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise GatewayError("upstream", "upstream sent malformed JSON in its stream") from None
