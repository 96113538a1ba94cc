"""Routing overhead and recovery: the same calls direct to a fast fake OpenAI upstream, through
Multimodel with one deployment (today's config), and through Multimodel with two deployments +
fallbacks + retries + circuit breakers, side by side in one run; then the time a deployment
takes to get traffic back after its upstream returns.

    python bench/routing_overhead.py            # ~1 minute
    python bench/routing_overhead.py --quick    # a smoke run

See bench/README.md. Everything runs on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_overhead import (
    MODEL,
    Conn,
    Processes,
    Result,
    Target,
    _free_port,
    _install_uvloop,
    _pct,
    _wait_http,
    measure_latency,
)

COOLDOWN_S = 1.0


def start_fake(procs: Processes, name: str, port: int) -> subprocess.Popen:
    fake = str(Path(__file__).resolve().parent / "fake_upstream.py")
    proc, _ = procs.start(name, [sys.executable, fake, str(port)], pipe_stdout=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def _deployment(port: int, id_: str) -> str:
    return (
        f"      - {{id: {id_}, provider: openai-compatible, model: {MODEL}, "
        f"api_base: 'http://127.0.0.1:{port}/v1'}}\n"
    )


def start_gateway(procs: Processes, name: str, models: str) -> int:
    tmp = procs.workdir
    config = tmp / f"{name}.yaml"
    config.write_text(f"database: sqlite:///{tmp}/{name}.db\nlog_content: true\nmodels:\n{models}")
    port = _free_port()
    argv = [sys.executable, "-m", "multimodel.cli", "serve", "--config", str(config), "--port", str(port)]
    proc, log = procs.start(name, argv)
    _wait_http(f"http://127.0.0.1:{port}/health", proc, 60, log)
    return port


def routed_models(a: int, b: int) -> str:
    """Two deployments + fallbacks + retries + breakers, everything on."""
    return (
        f"  - name: {MODEL}\n"
        "    strategy: least_inflight\n"
        "    fallbacks: [backup]\n"
        "    retries: {attempts: 2, backoff_s: 0.05, max_backoff_s: 1}\n"
        "    deadline_s: 30\n"
        f"    breaker: {{failures: 3, window_s: 10, cooldown_s: {COOLDOWN_S}}}\n"
        "    deployments:\n" + _deployment(a, "a") + _deployment(b, "b") + "  - name: backup\n"
        "    provider: openai-compatible\n"
        f"    model: {MODEL}\n"
        f"    api_base: http://127.0.0.1:{a}/v1\n"
    )


def _circuit(gateway: int, deployment: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway}/v1/deployments", timeout=5) as r:
        data = json.load(r)["data"]
    return next(d["circuit"]["state"] for m in data for d in m["deployments"] if d["id"] == deployment)


async def measure_recovery(procs: Processes, routed: Target, b_port: int, b_proc: subprocess.Popen) -> dict:
    """Kill deployment b's upstream under a steady trickle of requests, bring it back, and time
    how long until its breaker has closed (a probe answered) and it takes traffic again."""
    conn = Conn(routed.port)
    failed = sent = 0

    async def call() -> None:
        nonlocal failed, sent
        sent += 1
        failed += not await routed.call(conn, False)

    b_proc.send_signal(signal.SIGTERM)
    b_proc.wait(10)
    deadline = time.monotonic() + 30
    while _circuit(routed.port, "b") != "open" and time.monotonic() < deadline:
        await call()
        await asyncio.sleep(0.005)
    opened_after = sent
    start_fake(procs, "fake-b-again", b_port)
    back = time.perf_counter()
    while _circuit(routed.port, "b") != "closed" and time.monotonic() < deadline:
        await call()
        await asyncio.sleep(0.005)
    recovered_ms = (time.perf_counter() - back) * 1000
    conn.close()
    return {
        "requests_until_open": opened_after,
        "requests_during_outage": sent,
        "failed_requests": failed,
        "recovery_ms": recovered_ms,
        "cooldown_s": COOLDOWN_S,
    }


def report(targets: list[Target], result: Result, recovery: dict, rounds: int) -> dict:
    summary: dict = {"latency_ms": {}, "recovery": recovery}
    for mode, title in (("plain", "non-streaming"), ("stream", "streaming, read fully")):
        print(f"\nLatency, sequential ({rounds} interleaved rounds, {title}), ms")
        print(f"  {'target':<10}{'p50':>9}{'p99':>9}{'+p50':>9}{'+p99':>9}{'p50 / single':>14}")
        base = result.latency_ms[f"direct/{mode}"]
        single = result.latency_ms[f"single/{mode}"]
        for t in targets:
            s = result.latency_ms[f"{t.name}/{mode}"]
            p50, p99 = _pct(s, 0.5), _pct(s, 0.99)
            add50, add99 = p50 - _pct(base, 0.5), p99 - _pct(base, 0.99)
            ratio = p50 / _pct(single, 0.5)
            summary["latency_ms"][f"{t.name}/{mode}"] = {"p50": p50, "p99": p99, "added_p50": add50}
            print(f"  {t.name:<10}{p50:>9.3f}{p99:>9.3f}{add50:>9.3f}{add99:>9.3f}{ratio:>13.2f}x")
    lat = summary["latency_ms"]
    routing = lat["routed/plain"]["p50"] - lat["single/plain"]["p50"]
    summary["routing_added_p50_ms"] = routing
    print(
        f"\nRouting layer on the happy path (routed - single, p50 non-streaming): {routing:+.3f} ms"
        f"\nRecovery: deployment b's upstream killed: breaker open after {recovery['requests_until_open']}"
        f" requests, {recovery['failed_requests']} of {recovery['requests_during_outage']} client requests"
        f" failed; b back -> breaker closed and taking traffic after {recovery['recovery_ms']:.0f} ms"
        f" (cooldown {COOLDOWN_S:g} s, then one probe)"
    )
    for t in targets:
        if t.errors:
            print(f"!! {t.name}: {t.errors} failed requests; last: {t.last_error}")
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 rounds instead of 1000")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.warmup = 100, 20
    _install_uvloop()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="mm-routing-bench-") as tmp:
        procs = Processes(Path(tmp))
        try:
            a, b = _free_port(), _free_port()
            start_fake(procs, "fake-a", a)
            b_proc = start_fake(procs, "fake-b", b)
            single = (
                f"  - {{name: {MODEL}, provider: openai-compatible, model: {MODEL},"
                f" api_base: 'http://127.0.0.1:{a}/v1'}}\n"
            )
            targets = [
                Target("direct", a),
                Target("single", start_gateway(procs, "single", single)),
                Target("routed", start_gateway(procs, "routed", routed_models(a, b))),
            ]
            result = Result()
            print(f"Latency: {args.rounds} rounds x {len(targets)} targets x 2 modes…", flush=True)
            asyncio.run(measure_latency(targets, args.rounds, args.warmup, result))
            print("Recovery…", flush=True)
            recovery = asyncio.run(measure_recovery(procs, targets[2], b, b_proc))
            summary = report(targets, result, recovery, args.rounds)
            if args.json:
                args.json.write_text(json.dumps(summary, indent=2))
        finally:
            procs.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
