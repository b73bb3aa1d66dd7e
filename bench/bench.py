"""Benchmark: latency the gateway adds, throughput, and memory. Loopback only.

    python bench/bench.py [--requests 2000] [--concurrency 64] [--store memory]

Starts bench/fast_upstream.py and the gateway as processes (one core each is what the
numbers in DESIGN.md assume), then measures with an aiohttp client:
  1. added latency at concurrency 1 (median/p99), direct upstream vs through the gateway;
  2. non-streamed requests/s and streamed responses/s at the given concurrency;
  3. the gateway's resident memory before and after the load (growth must stay bounded).
Prints a table and writes bench/results.json. Targets (exit 1 if missed): added median
latency < 2 ms, >= 1000 req/s, >= 500 streams/s, RSS growth < 50 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
TARGETS = {"added_latency_ms_p50": 2.0, "requests_per_s": 1000.0, "streams_per_s": 500.0,
           "rss_growth_mib": 50.0}
BODY = {"model": "bench", "input": "Say hello.", "instructions": "Be brief.",
        "temperature": 0.2, "max_output_tokens": 64}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def wait_ready(url: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def one(session: aiohttp.ClientSession, url: str, body: dict) -> None:
    async with session.post(url, json=body) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")


async def latencies(url: str, body: dict, count: int) -> list[float]:
    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(20):
            await one(session, url, body)
        for _ in range(count):
            start = time.perf_counter()
            await one(session, url, body)
            out.append((time.perf_counter() - start) * 1000)
    return out


async def throughput(url: str, body: dict, total: int, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        queue = iter(range(total))

        async def worker() -> None:
            for _ in queue:
                await one(session, url, body)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - start)


async def measure(args: argparse.Namespace, gateway_pid: int, upstream: str,
                  gateway: str) -> dict[str, float]:
    chat_body = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}]}
    direct = await latencies(f"{upstream}/chat/completions", chat_body, 300)
    through = await latencies(f"{gateway}/responses", BODY, 300)
    rss_before = rss_mib(gateway_pid)
    rps = await throughput(f"{gateway}/responses", BODY, args.requests, args.concurrency)
    sps = await throughput(f"{gateway}/responses", {**BODY, "stream": True}, args.requests,
                           args.concurrency)
    await throughput(f"{gateway}/responses", BODY, args.requests, args.concurrency)
    rss_after = rss_mib(gateway_pid)
    return {
        "direct_latency_ms_p50": statistics.median(direct),
        "gateway_latency_ms_p50": statistics.median(through),
        "added_latency_ms_p50": statistics.median(through) - statistics.median(direct),
        "gateway_latency_ms_p99": statistics.quantiles(through, n=100)[98],
        "requests_per_s": rps,
        "streams_per_s": sps,
        "rss_before_mib": rss_before,
        "rss_after_mib": rss_after,
        "rss_growth_mib": rss_after - rss_before,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--store", default=None,
                        help="store URL (default: SQLite in a temporary directory, like the "
                             "gateway's own default)")
    args = parser.parse_args()
    scratch = tempfile.TemporaryDirectory()
    store = args.store or f"sqlite:///{scratch.name}/responses.db"
    up_port, gw_port = free_port(), free_port()
    upstream = subprocess.Popen([sys.executable, str(HERE / "fast_upstream.py"), str(up_port)])
    gateway = subprocess.Popen(
        [sys.executable, "-m", "responses_gateway", "--base-url",
         f"http://127.0.0.1:{up_port}/v1", "--port", str(gw_port), "--store", store,
         "--log-level", "warning"],
        env={**os.environ, "RESPONSES_GATEWAY_REASONING_KEY": "bench"})
    try:
        asyncio.run(wait_ready(f"http://127.0.0.1:{gw_port}/health"))
        results = asyncio.run(measure(args, gateway.pid, f"http://127.0.0.1:{up_port}/v1",
                                      f"http://127.0.0.1:{gw_port}/v1"))
    finally:
        gateway.terminate()
        upstream.terminate()
        gateway.wait(10)
        upstream.wait(10)
        scratch.cleanup()
    results["store"] = store  # type: ignore[assignment]
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    del results["store"]
    failed = []
    for key, value in results.items():
        target = TARGETS.get(key)
        ok = target is None or (value <= target if "latency" in key or "rss" in key
                                else value >= target)
        if not ok:
            failed.append(key)
        mark = "" if target is None else ("  ok" if ok else f"  MISSED (target {target})")
        print(f"{key:28} {value:10.2f}{mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
