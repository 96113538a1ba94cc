"""The benchmarks' fake OpenAI upstream: a raw asyncio HTTP/1.1 keep-alive server (uvloop when
installed) with precomputed answers, so that whatever a gateway adds in front of it is visible.
`python bench/fake_upstream.py [PORT]` serves on PORT (default: a free one) and prints the port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys

MODEL = "bench-model"
STREAM_CHUNKS = 20


def _nodelay(sock: socket.socket | None) -> None:
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _install_uvloop() -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _chunk(event: dict) -> bytes:
    data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _fake_answers() -> tuple[bytes, bytes, bytes, bytes]:
    """(JSON reply, SSE reply with usage, SSE reply without usage, models list)."""
    usage = {"prompt_tokens": 12, "completion_tokens": STREAM_CHUNKS, "total_tokens": 12 + STREAM_CHUNKS}
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": MODEL}
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Hello from the bench upstream.",
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        },
        separators=(",", ":"),
    ).encode()
    plain = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )

    def stream(with_usage: bool) -> bytes:
        def choice(delta: dict, finish: str | None = None) -> dict:
            event = {
                **base,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            return {**event, "usage": None} if with_usage else event

        events = [choice({"role": "assistant", "content": ""})]
        events += [choice({"content": f" tok{i}"}) for i in range(STREAM_CHUNKS)]
        events.append(choice({}, "stop"))
        if with_usage:
            events.append({**base, "choices": [], "usage": usage})
        done = b"data: [DONE]\n\n"
        out = b"".join(_chunk(e) for e in events) + b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done)
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        return head + out

    models = json.dumps(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "bench"}],
        }
    ).encode()
    listing = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        len(models),
        models,
    )
    return plain, stream(True), stream(False), listing


class _FakeProtocol(asyncio.Protocol):
    answers = _fake_answers()
    not_found = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # an asyncio.Transport (uvloop's does not subclass it)
        _nodelay(transport.get_extra_info("socket"))
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self._one_request():
            pass

    def _one_request(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, consumed = _dechunk(self.buf, start)
            if body is None:
                return False
        else:
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < start + length:
                return False
            body, consumed = bytes(self.buf[start : start + length]), start + length
        del self.buf[:consumed]
        plain, with_usage, without_usage, listing = self.answers
        if method == "POST" and path.endswith("/chat/completions"):
            request = json.loads(body or b"{}")
            if request.get("stream"):
                asked = (request.get("stream_options") or {}).get("include_usage")
                self.transport.write(with_usage if asked else without_usage)
            else:
                self.transport.write(plain)
        elif method == "GET" and path.endswith("/models"):
            self.transport.write(listing)
        else:
            self.transport.write(self.not_found)
        if headers.get("connection", "").lower() == "close":
            self.transport.close()
            return False
        return True


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes | None, int]:
    out = bytearray()
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None, 0
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        pos = line_end + 2
        if size == 0:
            trailer_end = buf.find(b"\r\n", pos)
            return (bytes(out), trailer_end + 2) if trailer_end >= 0 else (None, 0)
        if len(buf) < pos + size + 2:
            return None, 0
        out += buf[pos : pos + size]
        pos += size + 2


def serve_fake(port: int = 0) -> None:
    """Run the fake upstream on `port` (0: a free one); print the port, then serve until killed."""
    _install_uvloop()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_FakeProtocol, "127.0.0.1", port, backlog=4096)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


if __name__ == "__main__":
    serve_fake(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
