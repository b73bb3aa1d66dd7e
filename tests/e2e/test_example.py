"""README's example script runs against a real gateway started as `bash scripts/serve` does
(`--mock-upstream`), and gets the answers the built-in mock gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from e2e_support import Server, free_port

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "online_serving"
           / "openai_responses_proxy_example.py")


@pytest.fixture(scope="module")
def mock_upstream_gateway(spawn_server: Callable[..., Server]) -> Server:
    port = free_port()
    return spawn_server("gateway-mock-upstream",
                        ["--mock-upstream", "--store", "memory", "--port", str(port)],
                        "/health", port=port)


def test_example_script_against_mock_gateway(mock_upstream_gateway: Server) -> None:
    env = {"RESPONSES_GATEWAY_URL": f"{mock_upstream_gateway.url}/v1",
           "OPENAI_API_KEY": "sk-local", "MODEL": "mock-echo", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                         timeout=120, env=env)
    report = (f"exit {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}\n"
              f"gateway log:\n{mock_upstream_gateway.output()}")
    assert run.returncode == 0, report
    # The built-in mock echoes the last user message, and answers a tool output with it.
    assert "You said: Say hello in one short sentence." in run.stdout, report
    assert "You said: Count from one to five." in run.stdout, report
    assert "You said: Name three colours." in run.stdout, report
    assert "model called get_weather" in run.stdout, report
    assert "Tool result:" in run.stdout, report
    assert "all examples passed" in run.stdout, report
