"""The bench's load generator and process helpers: latency at one client, throughput at many,
CPU time and memory of a server process tree (from /proc). Loopback only; every loop is
bounded by a request count."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """Run `command` on one core (taskset) when the machine has two or more."""
    if cpu is None or (os.cpu_count() or 1) < 2 or not Path("/usr/bin/taskset").exists():
        return command
    return ["taskset", "-c", str(cpu), *command]


def pin_self(cpus: set[int] | None) -> None:
    if cpus is not None and (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def _tree(pid: int) -> list[int]:
    """The process and its descendants (a gateway with --workers, LiteLLM's uvicorn)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                pass
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree, in seconds."""
    total = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total * _TICK_S


def rss_mib(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Target:
    """A server under test: where to post, and the bodies it takes."""

    name: str
    proc: subprocess.Popen[bytes]
    url: str  # the full POST URL
    body: bytes  # non-streamed request
    stream_body: bytes
    slow_body: bytes = b""
    health: str = ""  # a GET that answers once the server is up
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    errors: list[str] = field(default_factory=list)


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout:.0f} s")


async def _one(session: aiohttp.ClientSession, target: Target, body: bytes) -> None:
    async with session.post(target.url, data=body, headers=target.headers) as response:
        payload = await response.read()
        if response.status != 200 or not payload:
            if len(target.errors) < 20:
                target.errors.append(f"HTTP {response.status}: {payload[:200]!r}")
            else:
                target.errors.append("")


async def latencies(target: Target, body: bytes, count: int, warmup: int = 20) -> list[float]:
    """Milliseconds per request, one after another on one connection."""
    out = []
    async with aiohttp.ClientSession() as session:
        for _ in range(warmup):
            await _one(session, target, body)
        for _ in range(count):
            start = time.perf_counter()
            await _one(session, target, body)
            out.append((time.perf_counter() - start) * 1000)
    return out


async def throughput(target: Target, body: bytes, total: int, concurrency: int
                     ) -> dict[str, float]:
    """Requests/s at `concurrency` clients and the server's CPU ms per request."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(_one(session, target, body) for _ in range(concurrency)))
        counter = iter(range(total))

        async def worker() -> None:
            for _ in counter:
                try:
                    await _one(session, target, body)
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    target.errors.append(repr(exc))

        cpu_before = cpu_seconds(target.proc.pid)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(target.proc.pid) - cpu_before
    return {"per_s": total / elapsed, "cpu_ms": cpu * 1000 / total}


def quantile(values: list[float], q: int) -> float:
    """The q-th percentile (q in 1..99)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]
