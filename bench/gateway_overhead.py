"""Gateway overhead: direct calls to a fast fake OpenAI upstream vs the same calls through
Multimodel and through LiteLLM's proxy, side by side in one run.

    python bench/gateway_overhead.py            # full run, under 3 minutes
    python bench/gateway_overhead.py --quick    # a smoke run, ~30 s plus start-up

See bench/README.md. Everything runs on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fake_upstream import MODEL, STREAM_CHUNKS, _install_uvloop, _nodelay  # noqa: E402

# ---------------------------------------------------------------------------------------------
# The load generator: one raw keep-alive HTTP/1.1 client, used for every target.


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        _nodelay(self.writer.get_extra_info("socket"))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
            }
            if "content-length" in headers:
                body = await self.reader.readexactly(int(headers["content-length"]))
            elif "chunked" in headers.get("transfer-encoding", "").lower():
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        while await self.reader.readuntil(b"\r\n") != b"\r\n":
                            pass
                        break
                    parts.append((await self.reader.readexactly(size + 2))[:-2])
                body = b"".join(parts)
            else:
                body = await self.reader.read()
                headers["connection"] = "close"
            if headers.get("connection", "").lower() == "close":
                self.close()
            return status, body
        except BaseException:
            self.close()
            raise


@dataclass
class Target:
    name: str
    port: int
    path: str = "/v1/chat/completions"
    plain: bytes = b""
    stream: bytes = b""
    key: str = "sk-bench"  # sent as a Bearer token: the gateway's API key when it requires keys
    errors: int = 0
    last_error: str = ""

    def __post_init__(self) -> None:
        self.plain = self._build(False)
        self.stream = self._build(True)

    def _build(self, stream: bool) -> bytes:
        body: dict = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
        }
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        data = json.dumps(body).encode()
        head = (
            f"POST {self.path} HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\n"
            f"content-type: application/json\r\nauthorization: Bearer {self.key}\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        )
        return head.encode() + data

    async def call(self, conn: Conn, stream: bool) -> bool:
        try:
            async with asyncio.timeout(30):
                status, body = await conn.request(self.stream if stream else self.plain)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as e:
            self.errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            return False
        ok = status == 200 and (b"[DONE]" in body if stream else b'"choices"' in body)
        if not ok:
            self.errors += 1
            self.last_error = f"HTTP {status}: {body[:200]!r}"
        return ok


@dataclass
class Result:
    latency_ms: dict[str, list[float]] = field(default_factory=dict)  # "target/mode" -> samples
    throughput: dict[str, float] = field(default_factory=dict)  # "target/mode" -> requests/s


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def measure_latency(targets: list[Target], rounds: int, warmup: int, result: Result) -> None:
    """Sequential requests, one keep-alive connection per target, interleaved round by round."""
    conns = {t.name: Conn(t.port) for t in targets}
    for mode in ("plain", "stream"):
        stream = mode == "stream"
        for t in targets:
            for _ in range(warmup):
                await t.call(conns[t.name], stream)
        for _ in range(rounds):
            for t in targets:
                started = time.perf_counter()
                if await t.call(conns[t.name], stream):
                    elapsed = (time.perf_counter() - started) * 1000
                    result.latency_ms.setdefault(f"{t.name}/{mode}", []).append(elapsed)
    for conn in conns.values():
        conn.close()


async def measure_throughput(
    target: Target, stream: bool, concurrency: int, seconds: float, warmup: float
) -> float:
    """Requests/s with `concurrency` clients looping on keep-alive connections."""
    done = 0
    counting = False
    stop_at = time.perf_counter() + warmup + seconds

    async def worker() -> None:
        nonlocal done
        conn = Conn(target.port)
        while time.perf_counter() < stop_at:
            if await target.call(conn, stream) and counting:
                done += 1
        conn.close()

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    counting, started = True, time.perf_counter()
    await asyncio.gather(*tasks)
    return done / (time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------
# Processes under test.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url}: process exited with {proc.returncode}; log:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")


class Processes:
    """Starts subprocesses in their own sessions and ends exactly those on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, pipe_stdout: bool = False
    ) -> tuple[subprocess.Popen, Path]:
        """Start argv with `env` (default: ours); output goes to <workdir>/<name>.log."""
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=os.environ.copy() if env is None else env,
                stdout=subprocess.PIPE if pipe_stdout else out,
                stderr=out if pipe_stdout else subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop_all ends its workers too
            )
        self.procs.append(proc)
        return proc, log

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def start_fake(procs: Processes) -> int:
    proc, _ = procs.start("fake-upstream", [sys.executable, str(HERE / "fake_upstream.py")], pipe_stdout=True)
    assert proc.stdout is not None
    return int(proc.stdout.readline())


def start_multimodel(procs: Processes, fake_port: int, keys: bool = False) -> tuple[int, str]:
    """A gateway on the fake upstream; with `keys`, one that requires API keys, and a key for it."""
    tmp = procs.workdir / ("keys" if keys else "open")
    tmp.mkdir()
    config = (
        f"database: sqlite:///{tmp}/bench.db\n"
        "log_content: true\n" + ("auth: {require_keys: true}\n" if keys else "") + "models:\n"
        f"  - name: {MODEL}\n"
        "    provider: openai-compatible\n"
        f"    model: {MODEL}\n"
        f"    api_base: http://127.0.0.1:{fake_port}/v1\n"
    )
    (tmp / "multimodel.yaml").write_text(config)
    key = "sk-bench"
    if keys:
        create = [
            sys.executable,
            "-m",
            "multimodel.cli",
            "keys",
            "create",
            "bench",
            "--config",
            str(tmp / "multimodel.yaml"),
        ]
        key = subprocess.run(create, capture_output=True, text=True, check=True).stdout.strip()
    port = _free_port()
    argv = [
        sys.executable,
        "-m",
        "multimodel.cli",
        "serve",
        "--config",
        str(tmp / "multimodel.yaml"),
        "--port",
        str(port),
    ]
    proc, log = procs.start("multimodel+keys" if keys else "multimodel", argv)
    _wait_http(f"http://127.0.0.1:{port}/health", proc, 60, log)
    return port, key


def start_litellm(procs: Processes, venv: Path, fake_port: int) -> int:
    tmp = procs.workdir
    config = (
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{MODEL}\n"
        f"      api_base: http://127.0.0.1:{fake_port}/v1\n"
        "      api_key: sk-dummy\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
    )
    (tmp / "litellm.yaml").write_text(config)
    port = _free_port()
    drop = {"DATABASE_URL", "LITELLM_MASTER_KEY", "REDIS_HOST", "REDIS_URL", "LITELLM_LOG"}
    env = {k: v for k, v in os.environ.items() if k not in drop} | {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no price-list download at import
        "LITELLM_TELEMETRY": "False",
        "DISABLE_SCHEMA_UPDATE": "True",
        "HOME": str(tmp),  # keeps any cache files it writes inside the temp dir
    }
    argv = [
        str(venv.absolute() / "bin" / "litellm"),
        "--config",
        str(tmp / "litellm.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    proc, log = procs.start("litellm", argv, env=env)
    _wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, 180, log)
    return port


# ---------------------------------------------------------------------------------------------
# Report.


def report(targets: list[Target], result: Result, args: argparse.Namespace) -> dict:
    names = [t.name for t in targets]
    summary: dict = {"latency_ms": {}, "throughput_rps": result.throughput, "errors": {}}
    print()
    for mode, title in (
        ("plain", "non-streaming"),
        ("stream", f"streaming, {STREAM_CHUNKS} chunks read fully"),
    ):
        print(f"Latency, sequential ({args.rounds} interleaved rounds, {title}), ms")
        print(f"  {'target':<16}{'p50':>9}{'p99':>9}{'+p50':>9}{'+p99':>9}")
        base = result.latency_ms.get(f"direct/{mode}", [])
        for name in names:
            samples = result.latency_ms.get(f"{name}/{mode}", [])
            p50, p99 = _pct(samples, 0.5), _pct(samples, 0.99)
            row = {"p50": p50, "p99": p99, "mean": statistics.fmean(samples) if samples else float("nan")}
            added = ""
            if name != "direct" and base:
                row |= {"added_p50": p50 - _pct(base, 0.5), "added_p99": p99 - _pct(base, 0.99)}
                added = f"{row['added_p50']:>9.3f}{row['added_p99']:>9.3f}"
            summary["latency_ms"][f"{name}/{mode}"] = row
            print(f"  {name:<16}{p50:>9.3f}{p99:>9.3f}{added}")
        print()
    print(f"Throughput ({args.concurrency} concurrent clients, {args.duration:g} s each), requests/s")
    print(f"  {'target':<16}{'non-stream':>12}{'stream':>12}")
    for name in names:
        plain, stream = (
            result.throughput.get(f"{name}/plain", 0.0),
            result.throughput.get(f"{name}/stream", 0.0),
        )
        print(f"  {name:<16}{plain:>12.0f}{stream:>12.0f}")
    print()
    lat = summary["latency_ms"]
    if "multimodel" in names and "litellm" in names:
        ratios = {
            mode: result.throughput[f"multimodel/{mode}"] / max(result.throughput[f"litellm/{mode}"], 1e-9)
            for mode in ("plain", "stream")
        }
        summary["multimodel_over_litellm_throughput"] = ratios
        print(
            f"Multimodel / LiteLLM throughput: non-stream {ratios['plain']:.2f}x, stream {ratios['stream']:.2f}x"
        )
    for name in names:
        if name != "direct" and f"{name}/plain" in lat:
            print(
                f"Added latency {name:<15} p50 {lat[f'{name}/plain']['added_p50']:.3f} ms, "
                f"p99 {lat[f'{name}/plain']['added_p99']:.3f} ms (non-streaming)"
            )
    for t in targets:
        summary["errors"][t.name] = t.errors
        if t.errors:
            print(f"!! {t.name}: {t.errors} failed requests; last: {t.last_error}")
    return summary


async def run(targets: list[Target], args: argparse.Namespace) -> Result:
    result = Result()
    print(f"Latency: {args.rounds} rounds x {len(targets)} targets x 2 modes…", flush=True)
    await measure_latency(targets, args.rounds, args.warmup, result)
    for t in targets:
        for mode in ("plain", "stream"):
            print(f"Throughput: {t.name} {mode}…", flush=True)
            result.throughput[f"{t.name}/{mode}"] = await measure_throughput(
                t, mode == "stream", args.concurrency, args.duration, args.warmup_seconds
            )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="short run: 100 rounds, 1.5 s per throughput test"
    )
    parser.add_argument("--rounds", type=int, default=500, help="sequential interleaved rounds (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests per target and mode")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per throughput test (default 5)")
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="uncounted seconds before each")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument(
        "--litellm-venv", type=Path, default=HERE / ".venv-litellm", help="see setup_litellm.sh"
    )
    parser.add_argument("--skip", action="append", default=[], choices=["multimodel", "litellm"])
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--keys", action="store_true", help="also a gateway that requires API keys")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.warmup, args.duration, args.warmup_seconds = 100, 20, 1.5, 0.5

    _install_uvloop()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below ends the servers
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as tmp:
        procs = Processes(Path(tmp))
        try:
            fake = start_fake(procs)
            targets = [Target("direct", fake)]
            if "multimodel" not in args.skip:
                try:
                    port, _ = start_multimodel(procs, fake)
                    targets.append(Target("multimodel", port))
                    if args.keys:
                        port, key = start_multimodel(procs, fake, keys=True)
                        targets.append(Target("multimodel+keys", port, key=key))
                except RuntimeError as e:
                    print(f"Multimodel did not start, measuring without it:\n{e}", file=sys.stderr)
            if "litellm" in args.skip:
                pass
            elif not (args.litellm_venv / "bin" / "litellm").exists():
                print(
                    f"No LiteLLM venv at {args.litellm_venv} (run bench/setup_litellm.sh); measuring without it."
                )
            else:
                try:
                    targets.append(Target("litellm", start_litellm(procs, args.litellm_venv, fake)))
                except RuntimeError as e:
                    print(f"LiteLLM did not start, measuring without it:\n{e}", file=sys.stderr)
            print("Targets: " + ", ".join(f"{t.name} (:{t.port})" for t in targets), flush=True)
            result = asyncio.run(run(targets, args))
            summary = report(targets, result, args)
            if args.json:
                args.json.write_text(json.dumps(summary, indent=2))
        finally:
            procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
