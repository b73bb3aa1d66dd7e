"""Profile the gateway under the bench's load with py-spy (a sampling profiler).

    pip install py-spy        # not a dependency of the gateway; it needs ptrace (root or
                              # kernel.yama.ptrace_scope=0)
    python bench/profile.py [--requests 20000] [--out /tmp/gateway-profile]

Starts the fast upstream and one gateway (default SQLite store) like bench.py, then, for the
non-streamed and the streamed load in turn, records the gateway with `py-spy record` and
prints where its CPU goes: the functions with the largest inclusive share (time in the
function and what it calls) and the largest self share. The raw stacks (collapsed format,
one line per stack) are kept in --out for flame graphs (e.g. speedscope.app, inferno).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import LOAD_CPU, SERVER_CPU, _stop, start_gateway, start_plain  # noqa: E402
from load import pin_self, throughput, wait_ready  # noqa: E402

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("responses_gateway/", "site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['func']} ({path})"


def summarize(raw: Path, top: int) -> str:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_name(f) for f in stack.split(";")]
        total += int(count)
        for name in set(frames):
            inclusive[name] += int(count)
        own[frames[-1]] += int(count)
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


async def profile(args: argparse.Namespace, scratch: str, out: Path) -> None:
    pin_self({LOAD_CPU})
    upstream = start_plain("upstream", "fast_upstream.py", [], LOAD_CPU)
    gateway = start_gateway("gateway", upstream.url.rsplit("/chat/completions", 1)[0],
                            args.store or f"sqlite:///{scratch}/responses.db", SERVER_CPU)
    try:
        for target in (upstream, gateway):
            await wait_ready(target.health, target.proc, 30)
        for mode, body in (("requests", gateway.body), ("streams", gateway.stream_body)):
            await throughput(gateway, body, 500, args.concurrency)  # warm up
            raw = out / f"{mode}.txt"
            spy = subprocess.Popen([args.py_spy, "record", "--pid", str(gateway.proc.pid),
                                    "--format", "raw", "--rate", "200", "--nonblocking",
                                    "--output", str(raw)], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)  # py-spy attaches
            measured = await throughput(gateway, body, args.requests, args.concurrency)
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
            print(f"== {mode}: {measured['per_s']:,.0f}/s, {measured['cpu_ms']:.2f} CPU ms "
                  f"each (py-spy attached), stacks in {raw}")
            print(summarize(raw, args.top) if raw.exists() else "py-spy wrote nothing")
            print()
        if gateway.errors:
            print(f"{len(gateway.errors)} requests failed: {gateway.errors[:3]}")
    finally:
        _stop([gateway, upstream])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--store", default=None)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", default="/tmp/gateway-profile")
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or
                        str(Path(sys.executable).parent / "py-spy"))
    args = parser.parse_args()
    if not Path(args.py_spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(profile(args, scratch, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
