"""bench/bench.py --smoke works: it measures every server, writes its JSON and its chart.

Only the shape is checked: timings on a shared machine are noise, and CI never fails on them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(180)
def test_bench_smoke_writes_results_and_chart(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "bench.py"), "--smoke",
                             "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["mode"] == "smoke"
    assert "not run" in results["meta"]["litellm"]  # never LiteLLM in the smoke run
    assert set(results["servers"]) == {"gateway", "passthrough"}
    for server in results["servers"].values():
        assert server["errors"] == 0
        for mode in ("requests", "streams"):
            assert server[mode]["median"] > 0
            assert server[mode]["min"] <= server[mode]["median"] <= server[mode]["max"]
            assert server[mode]["cpu_ms"] > 0
        assert set(server["added_ms"]) == {"ns_p50", "ns_p99", "stream_p50", "stream_p99"}
    assert set(results["ratios"]["passthrough"]) == {"requests", "streams", "cpu_request",
                                                     "cpu_stream"}
    names = [t["name"] for t in results["targets"]]
    assert "throughput vs pass-through, non-streamed" in names
    assert all(t["met"] in (True, False, None) for t in results["targets"])
    assert (tmp_path / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| gateway |" in result.stdout and "| litellm | not run" in result.stdout
