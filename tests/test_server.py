"""The server around the app, over raw sockets where a client misbehaves: read timeouts for slow
clients (408), a client gone before its body (a 499 row, not an error), and a request cut by the
end of the shutdown grace (an answer with its request id, and its row)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import KEY_ENV, standard_models
from tests.fakes.upstream import FakeUpstream, Hang, Reply
from tests.support.databases import rows
from tests.support.gateway import GatewayProcess
from tests.support.specs import check_openai_stream, validate

HEAD = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
BODY = orjson.dumps({"model": "gpt-test", "messages": [{"role": "user", "content": "hello"}]})
TIMEOUT_S = 2  # the gateway's header and body timeouts here


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    workdir = tmp_path_factory.mktemp("server")
    config = {
        "database": f"sqlite:///{workdir / 'usage.db'}",
        "models": standard_models(upstream),
        "client_header_timeout_s": TIMEOUT_S,
        "client_body_timeout_s": TIMEOUT_S,
    }
    with GatewayProcess(workdir, config, env=KEY_ENV) as g:
        yield g


def _connect(gw: GatewayProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gw.port), timeout=15)


def _answer(sock: socket.socket) -> bytes:
    """Everything the gateway sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _row(gw: GatewayProcess, error_type: str, api_format: str = "openai") -> dict[str, Any]:
    """The one usage row with this error type (the writer is asynchronous: wait for it)."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            r
            for r in rows(f"sqlite:///{gw.workdir / 'usage.db'}", "usage")
            if r["error_type"] == error_type and r["api_format"] == api_format
        ]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.1)


def test_headers_sent_a_byte_at_a_time_get_a_408_and_a_closed_connection(gw: GatewayProcess) -> None:
    with _connect(gw) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        sock.settimeout(0.2)
        answer = b""
        for byte in b"x-slow: " + b"a" * 200:  # slowloris: always a little more, never the end
            sock.send(bytes([byte]))
            try:
                answer = sock.recv(65536)
                break
            except TimeoutError:
                pass
        sock.settimeout(15)
        answer += _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 10 * TIMEOUT_S
    body = orjson.loads(answer.split(b"\r\n\r\n", 1)[1])
    validate("openai", "ErrorResponse", body)
    assert body["error"]["code"] == "request_timeout"


def test_a_connection_that_sends_nothing_is_closed(gw: GatewayProcess) -> None:
    with _connect(gw) as sock:
        assert _answer(sock).startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize("api", ["openai", "anthropic"])
def test_a_stalled_body_gets_a_408_in_the_callers_format_and_a_row(gw: GatewayProcess, api: str) -> None:
    head = HEAD if api == "openai" else HEAD.replace(b"/v1/chat/completions", b"/v1/messages")
    with _connect(gw) as sock:
        sock.sendall(head + b"content-length: %d\r\n\r\n" % len(BODY) + BODY[:10])
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    body = orjson.loads(answer.split(b"\r\n\r\n", 1)[1])
    if api == "openai":
        assert body["error"]["code"] == "request_timeout"
    else:
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    row = _row(gw, "request_timeout", api)
    assert row["status"] == 408 and row["endpoint"] == "chat"


def test_a_slow_body_that_keeps_coming_is_not_cut(gw: GatewayProcess) -> None:
    """The body timeout is for silence, not for the whole upload."""
    piece = len(BODY) // 10 + 1
    with _connect(gw) as sock:
        sock.sendall(HEAD + b"content-length: %d\r\n\r\n" % len(BODY))
        for i in range(0, len(BODY), piece):  # ten pieces over 3 s: longer than the timeout
            time.sleep(0.3)
            sock.sendall(BODY[i : i + piece])
        head = sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head[:300]


def test_a_client_gone_before_its_body_is_a_499_row_not_a_gateway_error(gw: GatewayProcess) -> None:
    with _connect(gw) as sock:
        sock.sendall(HEAD + b"content-length: %d\r\n\r\n" % len(BODY) + BODY[:10])
        time.sleep(0.3)  # the request is in the app, waiting for the rest of its body
    row = _row(gw, "client_disconnected")
    assert row["status"] == 499 and row["endpoint"] == "chat"
    log = gw.log()
    assert "ERROR" not in log and "Traceback" not in log, log[-3000:]


def test_a_request_cut_by_the_shutdown_grace_gets_a_503_with_its_id_and_a_row(
    up: FakeUpstream, tmp_path: Path
) -> None:
    """uvicorn cancels what still runs when the grace ends; the upstream may bill those calls."""
    database = f"sqlite:///{tmp_path / 'usage.db'}"
    config = {"database": database, "models": standard_models(up), "shutdown_grace_s": 1}
    up.push(Hang(seconds=60))
    up.push(Reply(text=" ".join(["tok"] * 100), chunk_delay=0.3))  # 30 s of stream
    with GatewayProcess(tmp_path, config, env=KEY_ENV) as gw:

        async def run() -> tuple[httpx.Response, httpx.Response]:
            async with httpx.AsyncClient(base_url=gw.url, timeout=30) as c:
                plain = asyncio.create_task(
                    c.post(
                        "/v1/chat/completions",
                        json={"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]},
                    )
                )
                while up.calls < 1:
                    await asyncio.sleep(0.02)
                stream = asyncio.create_task(
                    c.post(
                        "/v1/chat/completions",
                        json={
                            "model": "gpt-test",
                            "stream": True,
                            "messages": [{"role": "user", "content": "x"}],
                        },
                    )
                )
                while up.calls < 2:
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.5)  # the stream has begun
                assert gw.proc is not None
                gw.proc.send_signal(signal.SIGTERM)
                return await plain, await stream

        started = time.monotonic()
        plain, stream = asyncio.run(run())
        assert gw.stop() == 0 and time.monotonic() - started < 20
        assert "Traceback" not in gw.log(), gw.log()[-3000:]
    assert plain.status_code == 503, plain.text
    validate("openai", "ErrorResponse", plain.json())
    assert stream.status_code == 200
    events = check_openai_stream(stream.content, include_usage=False, allow_error=True)
    assert events[-1]["error"]["type"] == "service_unavailable"
    usage = rows(database, "usage")
    assert sorted(r["request_id"] for r in usage) == sorted(
        (plain.headers["x-request-id"], stream.headers["x-request-id"])
    )
    assert all(r["error_type"] == "shutdown" for r in usage)
    assert sorted(r["status"] for r in usage) == [200, 503]  # the stream had sent its 200
