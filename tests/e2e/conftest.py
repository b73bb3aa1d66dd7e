"""End-to-end fixtures: the fake provider and the gateway as real processes on 127.0.0.1.

Every process is started with `sys.executable -m responses_gateway ...` on a free port, waited
for by polling its health URL, and terminated at the end of the session (or when it fails to
start, with its output in the assertion message).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx2
import openai
import pytest

# `e2e_support` lives next to this file (tests/conftest.py puts tests/ itself on the path,
# for `schema_check`; this keeps working if it is run alone).
for _path in (Path(__file__).resolve().parent, Path(__file__).resolve().parent.parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from e2e_support import (  # noqa: E402
    CLIENT_KEY,
    GATEWAY_KEY,
    START_TIMEOUT,
    UPSTREAM_KEY,
    MockLog,
    Server,
    free_port,
)


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # The gateway reads RESPONSES_GATEWAY_* from the environment: start from none of them so
    # each fixture decides exactly what its process sees.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def start_server(name: str, args: list[str], ready_path: str, log_dir: Path, *,
                 port: int, env: dict[str, str] | None = None,
                 ready_headers: dict[str, str] | None = None) -> Server:
    """Start `python -m responses_gateway <args>` and poll `ready_path` until it answers 200."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen([sys.executable, "-m", "responses_gateway", *args],
                               stdout=log, stderr=subprocess.STDOUT, env=_clean_env(env))
    log.close()
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode} before it was ready; "
                        f"command {args}; output:\n{server.output()}")
        try:
            response = httpx2.get(server.url + ready_path, headers=ready_headers, timeout=1.0)
            if response.status_code == 200:
                return server
            last_error = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx2.HTTPError as exc:
            last_error = repr(exc)
        time.sleep(0.05)  # bounded polling for readiness
    server.stop()
    pytest.fail(f"{name} did not answer GET {ready_path} within {START_TIMEOUT} s "
                f"(last: {last_error}); output:\n{server.output()}")


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(scope="session")
def mock_provider(log_dir: Path) -> Iterator[Server]:
    """The fake chat-completions provider; it requires the upstream key, as a real one does."""
    port = free_port()
    server = start_server("mock-provider",
                          ["mock-provider", "--port", str(port), "--api-key", UPSTREAM_KEY],
                          "/v1/models", log_dir, port=port,
                          ready_headers={"Authorization": f"Bearer {UPSTREAM_KEY}"})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gateway(mock_provider: Server, log_dir: Path) -> Iterator[Server]:
    """The gateway started with the original design's command line."""
    port = free_port()
    server = start_server("gateway", [
        "--responses-proxy-mode",
        "--responses-proxy-base-url", f"{mock_provider.url}/v1",
        "--responses-proxy-api-key", UPSTREAM_KEY,
        "--port", str(port),
    ], "/health", log_dir, port=port)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def secured_gateway(mock_provider: Server, log_dir: Path) -> Iterator[Server]:
    """A gateway that requires its own key; the upstream key comes only from the environment."""
    port = free_port()
    server = start_server("secured-gateway", [
        "--base-url", f"{mock_provider.url}/v1",
        "--api-key", GATEWAY_KEY,
        "--port", str(port),
    ], "/health", log_dir, port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def unreachable_gateway(log_dir: Path) -> Iterator[Server]:
    """A gateway whose upstream is a port nothing listens on."""
    dead_port = free_port()
    port = free_port()
    server = start_server("unreachable-gateway", [
        "--responses-proxy-mode",
        "--responses-proxy-base-url", f"http://127.0.0.1:{dead_port}/v1",
        "--responses-proxy-api-key", UPSTREAM_KEY,
        "--port", str(port),
    ], "/health", log_dir, port=port)
    server.upstream = f"http://127.0.0.1:{dead_port}/v1"
    yield server
    server.stop()


@pytest.fixture
def mock_log(mock_provider: Server) -> MockLog:
    log = MockLog(mock_provider)
    log.clear()
    return log


@pytest.fixture
def client(gateway: Server) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                       timeout=30, _strict_response_validation=True) as sdk:
        yield sdk


@pytest.fixture
def http(gateway: Server) -> Iterator[httpx2.Client]:
    """A plain HTTP client on the gateway, for raw bytes and hand-made requests."""
    with httpx2.Client(base_url=gateway.url, timeout=30,
                       headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as raw:
        yield raw
