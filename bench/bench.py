"""Benchmark: the gateway side by side with a bare pass-through proxy and LiteLLM. Loopback.

    python bench/bench.py [--requests 3000] [--concurrency 64] [--repeat 2] [--store URL]
                          [--workers 2] [--long] [--no-litellm] [--smoke] [--out DIR]

One run starts bench/fast_upstream.py (canned Chat Completions answers; a stream is 20
chunks), the gateway (default: SQLite in a temporary directory), bench/passthrough.py (an
aiohttp proxy that forwards bytes without translating: the limit for Python here) and, when
its virtual environment can be made, LiteLLM's proxy on its Responses-to-chat bridge. Servers
run on core 0, the upstream and this load generator on core 1 (taskset). It measures:
  - non-streamed requests/s and streams/s at --concurrency clients (--repeat rounds,
    servers interleaved; the median is reported with the range);
  - the latency each server adds at one client (p50/p99 minus the upstream's own), both modes;
  - CPU ms per request/stream: utime+stime of the server's processes over the run;
  - with --workers N: the gateway with N workers against one, both on all cores;
  - with --long: 100,000 requests, then 1,000 slow concurrent streams (a chunk every 50 ms),
    errors and the gateway's RSS after against RSS after warm-up.
Prints a table, writes results.json and results.png into --out (default: bench/). Exit code 1
only when requests failed: missed targets are reported, not fatal (timings are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import litellm_peer  # noqa: E402
import report  # noqa: E402
from load import (Target, cpu_seconds, free_port, latencies, pin_self, pinned,  # noqa: E402
                  quantile, rss_mib, throughput, wait_ready)

HERE = Path(__file__).resolve().parent
SERVER_CPU, LOAD_CPU = 0, 1
RESPONSES = {"model": "bench", "input": "Say hello.", "instructions": "Be brief.",
             "temperature": 0.2, "max_output_tokens": 64}
CHAT = {"model": "bench", "messages": [{"role": "system", "content": "Be brief."},
                                       {"role": "user", "content": "Say hello."}],
        "temperature": 0.2, "max_tokens": 64}


def _bodies(template: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    return (orjson.dumps(template), orjson.dumps({**template, "stream": True}),
            orjson.dumps({**template, "stream": True, "model": "bench-slow"}))


def start_gateway(name: str, upstream: str, store: str, cpu: int | None,
                  extra: list[str] = (), src: str | None = None  # type: ignore[assignment]
                  ) -> Target:
    port = free_port()
    command = [sys.executable, "-m", "responses_gateway", "--base-url", upstream, "--port",
               str(port), "--store", store, "--log-level", "warning", *extra]
    env = {**os.environ, "RESPONSES_GATEWAY_REASONING_KEY": "bench"}
    if src:  # another checkout's code (--baseline-src), ahead of the installed one
        env["PYTHONPATH"] = src
    proc = subprocess.Popen(pinned(command, cpu), env=env)
    ns, stream, slow = _bodies(RESPONSES)
    target = Target(name, proc, f"http://127.0.0.1:{port}/v1/responses", ns, stream, slow)
    target.health = f"http://127.0.0.1:{port}/health"
    return target


def start_plain(name: str, script: str, args: list[str], cpu: int | None) -> Target:
    port = free_port()
    proc = subprocess.Popen(pinned([sys.executable, str(HERE / script), str(port), *args], cpu))
    ns, stream, slow = _bodies(CHAT)
    target = Target(name, proc, f"http://127.0.0.1:{port}/v1/chat/completions", ns, stream,
                    slow)
    target.health = f"http://127.0.0.1:{port}/v1/models" if script == "fast_upstream.py" \
        else f"http://127.0.0.1:{port}/health"
    return target


async def added_latency(targets: list[Target], direct: Target, count: int) -> dict[str, Any]:
    base_ns = await latencies(direct, direct.body, count)
    base_stream = await latencies(direct, direct.stream_body, count)
    out: dict[str, Any] = {"upstream": {
        "ns_p50": quantile(base_ns, 50), "ns_p99": quantile(base_ns, 99),
        "stream_p50": quantile(base_stream, 50), "stream_p99": quantile(base_stream, 99)}}
    for target in targets:
        n = count if target.name != "litellm" else min(count, 100)
        ns = await latencies(target, target.body, n)
        stream = await latencies(target, target.stream_body, n)
        out[target.name] = {
            "ns_p50": quantile(ns, 50) - quantile(base_ns, 50),
            "ns_p99": quantile(ns, 99) - quantile(base_ns, 99),
            "stream_p50": quantile(stream, 50) - quantile(base_stream, 50),
            "stream_p99": quantile(stream, 99) - quantile(base_stream, 99)}
    return out


def _summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
    values = [r["per_s"] for r in rounds]
    cpus = [r["cpu_ms"] for r in rounds]
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "cpu_ms": statistics.median(cpus), "cpu_ms_min": min(cpus),
            "cpu_ms_max": max(cpus)}


async def rates(targets: list[Target], total: int, concurrency: int, repeat: int
                ) -> dict[str, Any]:
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        t.name: {"requests": [], "streams": []} for t in targets}
    for _ in range(repeat):
        for target in targets:  # interleaved, so that noise from the machine hits all alike
            n = total if target.name != "litellm" else max(100, total // 15)
            runs[target.name]["requests"].append(
                await throughput(target, target.body, n, concurrency))
            runs[target.name]["streams"].append(
                await throughput(target, target.stream_body, n, concurrency))
    return {name: {mode: {**_summary(rounds), "rounds": rounds}
                   for mode, rounds in modes.items()} for name, modes in runs.items()}


async def workers_scaling(upstream: str, store_dir: str, workers: int, total: int,
                          concurrency: int, repeat: int) -> dict[str, Any]:
    """One worker against N, both free to use every core, each with one shared SQLite file."""
    pin_self(None)
    single = start_gateway("gateway-1w", upstream, f"sqlite:///{store_dir}/one.db", None)
    multi = start_gateway(f"gateway-{workers}w", upstream, f"sqlite:///{store_dir}/many.db",
                          None, ["--workers", str(workers)])
    try:
        for target in (single, multi):
            await wait_ready(target.health, target.proc, 30)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        measured = await rates([single, multi], total, concurrency, repeat)
    finally:
        _stop([single, multi])
        pin_self({LOAD_CPU})
    one, many = measured[single.name], measured[multi.name]
    return {"workers": workers, "one": one, "many": many,
            "requests_scaling": many["requests"]["median"] / one["requests"]["median"],
            "streams_scaling": many["streams"]["median"] / one["streams"]["median"],
            "errors": len(single.errors) + len(multi.errors)}


async def long_run(upstream: str, store_dir: str, total: int, slow_streams: int,
                   concurrency: int) -> dict[str, Any]:
    gateway = start_gateway("gateway-long", upstream, f"sqlite:///{store_dir}/long.db",
                            SERVER_CPU, ["--max-streams-per-key", str(slow_streams * 2),
                                         "--max-client-connections", str(slow_streams * 2)])
    try:
        await wait_ready(gateway.health, gateway.proc, 30)
        await throughput(gateway, gateway.body, 5000, concurrency)
        await throughput(gateway, gateway.stream_body, 1000, concurrency)
        rss_warm = rss_mib(gateway.proc.pid)
        started = time.perf_counter()
        requests = await throughput(gateway, gateway.body, total, concurrency)
        slow = await throughput(gateway, gateway.slow_body, slow_streams, slow_streams)
        rss_after = rss_mib(gateway.proc.pid)
        return {"requests": total, "requests_per_s": requests["per_s"],
                "slow_streams": slow_streams, "slow_streams_seconds": slow_streams / slow["per_s"],
                "seconds": time.perf_counter() - started, "errors": len(gateway.errors),
                "error_samples": [e for e in gateway.errors if e][:5],
                "rss_warm_mib": rss_warm, "rss_after_mib": rss_after,
                "rss_growth": rss_after / rss_warm - 1}
    finally:
        _stop([gateway])


def _stop(targets: list[Target]) -> None:
    for target in targets:
        if target.proc.poll() is None:
            target.proc.terminate()
    for target in targets:
        try:
            target.proc.wait(15)
        except subprocess.TimeoutExpired:
            target.proc.kill()
            target.proc.wait(5)


async def run(args: argparse.Namespace, scratch: str) -> dict[str, Any]:
    pin_self({LOAD_CPU})
    upstream = start_plain("upstream", "fast_upstream.py", [], LOAD_CPU)
    upstream_url = upstream.url.rsplit("/chat/completions", 1)[0]
    store = args.store or f"sqlite:///{scratch}/responses.db"
    targets = [start_gateway("gateway", upstream_url, store, SERVER_CPU),
               start_plain("passthrough", "passthrough.py", [upstream_url[:-3]], SERVER_CPU)]
    if args.baseline_src:
        targets.insert(1, start_gateway("baseline", upstream_url, f"sqlite:///{scratch}/base.db",
                                        SERVER_CPU, src=args.baseline_src))
    litellm_note = "not run (--no-litellm)" if args.no_litellm else None
    started = [upstream, *targets]
    try:
        if litellm_note is None:
            peer, litellm_note = litellm_peer.start(Path(args.litellm_venv), upstream_url,
                                                   scratch, SERVER_CPU)
            if peer is not None:
                started.append(peer)
                try:
                    await wait_ready(peer.health, peer.proc, 120)
                    await latencies(peer, peer.body, 1, warmup=2)
                    if peer.errors:
                        raise RuntimeError(peer.errors[0])
                    targets.append(peer)
                except Exception as exc:  # a peer that does not work is a note, not a crash
                    _stop([peer])
                    tail = peer.log.read_text(errors="replace").strip().splitlines()[-1:]
                    litellm_note = f"skipped: LiteLLM did not answer ({exc}; {tail})"[:400]
        for target in [upstream, *(t for t in targets if t.name != "litellm")]:
            await wait_ready(target.health, target.proc, 30)
        load_before = os.getloadavg()
        latency = await added_latency(targets, upstream, args.latency_requests)
        measured = await rates(targets, args.requests, args.concurrency, args.repeat)
        for target in targets:
            measured[target.name]["added_ms"] = latency[target.name]
            measured[target.name]["errors"] = len(target.errors)
            measured[target.name]["error_samples"] = [e for e in target.errors if e][:5]
        results: dict[str, Any] = {
            "meta": {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "mode": "smoke" if args.smoke else ("long" if args.long else "standard"),
                     "python": platform.python_version(), "cpus": os.cpu_count(),
                     "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                     "store": store.split(":", 1)[0], "concurrency": args.concurrency,
                     "requests": args.requests, "repeat": args.repeat,
                     "pinned": (os.cpu_count() or 1) >= 2,
                     "litellm": litellm_note or f"litellm {litellm_peer.VERSION}"},
            "upstream_ms": latency["upstream"], "servers": measured}
        if args.workers > 1:
            results["workers"] = await workers_scaling(
                upstream_url, scratch, args.workers, args.requests, args.concurrency,
                args.repeat)
        if args.long:
            results["long"] = await long_run(upstream_url, scratch, args.long_requests,
                                             args.long_streams, args.concurrency)
        return results
    finally:
        _stop(started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000,
                        help="requests (and streams) per throughput round and server")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-requests", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2, help="throughput rounds per server")
    parser.add_argument("--store", default=None, help="gateway store URL (default: SQLite in "
                        "a temporary directory, like the gateway's own default)")
    parser.add_argument("--workers", type=int, default=1,
                        help="also measure the gateway with N workers against one")
    parser.add_argument("--long", action="store_true",
                        help="also the long run: 100,000 requests and 1,000 slow streams")
    parser.add_argument("--long-requests", type=int, default=100_000)
    parser.add_argument("--long-streams", type=int, default=1000)
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--baseline-src", default=None, metavar="DIR",
                        help="also run the gateway from another checkout's src/ (e.g. a "
                             "`git worktree` of the commit before a change), as 'baseline'")
    parser.add_argument("--litellm-venv", default=str(litellm_peer.DEFAULT_VENV))
    parser.add_argument("--smoke", action="store_true",
                        help="a few seconds, to prove the bench works (CI); no LiteLLM")
    parser.add_argument("--out", default=str(HERE), help="where results.json/.png go")
    args = parser.parse_args()
    if args.smoke:
        args.requests, args.concurrency, args.latency_requests, args.repeat = 150, 16, 30, 1
        args.no_litellm = True
        args.long_requests, args.long_streams = 500, 20
    with tempfile.TemporaryDirectory() as scratch:
        results = asyncio.run(run(args, scratch))
    results["ratios"], results["targets"] = report.assess(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(report.table(results))
    report.chart(results, out / "results.png")
    failed = sum(s.get("errors", 0) for s in results["servers"].values())
    failed += results.get("workers", {}).get("errors", 0) + results.get("long", {}).get(
        "errors", 0)
    if failed:
        print(f"{failed} requests failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
