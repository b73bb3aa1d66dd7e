"""End-to-end fixtures: the fake provider and the gateway as real processes on 127.0.0.1.

Every process is started with `sys.executable -m responses_gateway ...` on a free port, waited
for by polling its health URL, and terminated at the end of the session (or when it fails to
start, with its output in the assertion message).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
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


_DATA_HOME = tempfile.mkdtemp(prefix="rgw-e2e-data-")


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    # The gateway reads RESPONSES_GATEWAY_* from the environment: start from none of them so
    # each fixture decides exactly what its process sees.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
    env["PYTHONUNBUFFERED"] = "1"
    # The default store and reasoning key live in the data directory: keep them out of HOME.
    env["XDG_DATA_HOME"] = _DATA_HOME
    env.update(extra or {})
    return env


def start_server(name: str, args: list[str], ready_path: str, log_dir: Path, *,
                 port: int, env: dict[str, str] | None = None,
                 ready_headers: dict[str, str] | None = None,
                 command: list[str] | None = None) -> Server:
    """Start `python -m responses_gateway <args>` (or `<command> <args>`: another server, such
    as a real model server) and poll `ready_path` until it answers 200."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    argv = [*(command or [sys.executable, "-m", "responses_gateway"]), *args]
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=_clean_env(env))
    log.close()
    server = Server(name, process, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + START_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode} before it was ready; "
                        f"command {argv}; output:\n{server.output()}")
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


from collections.abc import Callable  # noqa: E402  (kept with the fixture below)


@pytest.fixture(scope="session")
def spawn_server(log_dir: Path) -> Iterator[Callable[..., Server]]:
    """Start more processes for the session, as `start_server` does (same arguments, without
    `log_dir`): `spawn_server("name", args, "/health", port=port)`. Each one is stopped when the
    session ends, last started first; stopping one earlier is harmless."""
    started: list[Server] = []

    def spawn(name: str, args: list[str], ready_path: str, *, port: int,
              env: dict[str, str] | None = None,
              ready_headers: dict[str, str] | None = None,
              command: list[str] | None = None) -> Server:
        server = start_server(name, args, ready_path, log_dir, port=port, env=env,
                              ready_headers=ready_headers, command=command)
        started.append(server)
        return server

    yield spawn
    for server in reversed(started):
        server.stop()


# -- stateful API (issue 5): Redis test database, gateways with a store, a provider relay ------
# Used by test_stateful.py and test_replicas.py. Nothing above this line depends on it.

import socket as _socket  # noqa: E402
import threading as _threading  # noqa: E402
from typing import Any, Callable  # noqa: E402

STATEFUL_REDIS_URL = os.environ.get("RG_TEST_REDIS", "redis://127.0.0.1:6379") + "/15"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _redis_unavailable(reason: str) -> None:
    """Skip locally; with CI=true a missing Redis (or PostgreSQL) is a failure, never a
    skip."""
    if _ci():
        pytest.fail(f"{reason} (CI is set, so the server is required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_db() -> Iterator[Any]:
    """A sync client on Redis database 15, flushed when the session starts and ends."""
    try:
        import redis
    except ImportError:
        _redis_unavailable("the redis package is not installed: pip install 'redis>=5'")
    client = redis.Redis.from_url(STATEFUL_REDIS_URL, socket_connect_timeout=2,
                                  socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        _redis_unavailable(f"no Redis reachable at {STATEFUL_REDIS_URL}: {exc}")
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[Callable[[], str]]:
    """A PostgreSQL database made for the session (dropped at its end). Calling the fixture's
    value gives the URL of a fresh schema in it: a store no other gateway uses."""
    from pg_support import fresh_schema, session_database

    with session_database("rg_e2e_", _redis_unavailable) as database:
        yield lambda: fresh_schema(database)


class _RelayedConnection:
    def __init__(self) -> None:
        self.down = bytearray()  # provider -> gateway bytes since the last reset
        self.up = 0  # gateway -> provider bytes since the last reset
        self.ended_by: str | None = None  # "gateway" or "provider": who closed first


class ProviderRelay:
    """A TCP relay in front of the mock provider that sees what passes through it.

    It tells whether the gateway closed an upstream connection, and how many SSE data frames
    (and `[DONE]`s) the provider had sent before that: the evidence that a cancelled run
    really stopped its upstream request. `reset()` starts a new observation window.
    """

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = _socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._lock = _threading.Lock()
        self._connections: list[_RelayedConnection] = []
        self._sockets: list[_socket.socket] = []
        self._closed = False
        self._thread = _threading.Thread(target=self._accept, name="relay", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        with self._lock:
            self._connections = [c for c in self._connections if c.ended_by is None]
            for connection in self._connections:
                connection.down.clear()
                connection.up = 0

    def data_frames(self) -> int:
        """SSE `data:` frames the provider sent since the last reset (`[DONE]` included)."""
        with self._lock:
            return sum(c.down.count(b"data: ") for c in self._connections)

    def done_frames(self) -> int:
        with self._lock:
            return sum(c.down.count(b"data: [DONE]") for c in self._connections)

    def closed_by_gateway(self) -> int:
        """Connections that carried data since the last reset and that the gateway closed."""
        with self._lock:
            return sum(1 for c in self._connections if c.ended_by == "gateway" and c.down)

    def requests_closed_by_gateway(self) -> int:
        """Connections that carried a request since the last reset and that the gateway
        closed, whether or not the provider had answered anything."""
        with self._lock:
            return sum(1 for c in self._connections if c.ended_by == "gateway" and c.up)

    def summary(self) -> list[tuple[str | None, int]]:
        """(who closed it or None, bytes from the provider) per connection, for messages."""
        with self._lock:
            return [(c.ended_by, len(c.down)) for c in self._connections]

    def close(self) -> None:
        self._closed = True
        self._thread.join(timeout=2)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _shut(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                gateway_side, _ = self._listener.accept()
            except (TimeoutError, _socket.timeout):
                continue
            except OSError:
                return
            try:
                provider_side = _socket.create_connection(self._target, timeout=5)
                provider_side.settimeout(None)
            except OSError:
                _shut(gateway_side)
                continue
            gateway_side.settimeout(None)
            connection = _RelayedConnection()
            with self._lock:
                self._connections.append(connection)
                self._sockets += [gateway_side, provider_side]
            for source, sink, side in ((gateway_side, provider_side, "gateway"),
                                       (provider_side, gateway_side, "provider")):
                _threading.Thread(target=self._pump, args=(source, sink, side, connection),
                                  daemon=True).start()

    def _pump(self, source: _socket.socket, sink: _socket.socket, side: str,
              connection: _RelayedConnection) -> None:
        try:
            while True:
                try:
                    data = source.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                with self._lock:
                    if side == "provider":
                        connection.down += data
                    else:
                        connection.up += len(data)
                try:
                    sink.sendall(data)
                except OSError:
                    break
        finally:
            with self._lock:
                if connection.ended_by is None:
                    connection.ended_by = side
            _shut(source)
            _shut(sink)


def _shut(sock: _socket.socket) -> None:
    try:
        sock.shutdown(_socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


@pytest.fixture(scope="session")
def provider_relay(mock_provider: Server) -> Iterator[ProviderRelay]:
    relay = ProviderRelay(int(mock_provider.url.rsplit(":", 1)[1]))
    yield relay
    relay.close()


GatewayLauncher = Callable[..., Server]


@pytest.fixture(scope="session")
def launch_gateway(provider_relay: ProviderRelay, log_dir: Path,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayLauncher]:
    """`launch_gateway(name, store, *extra_args, data_dir=None, port=None)` -> a gateway on
    its own port, with that `--store`, talking to the mock provider through the relay.
    Every gateway it started is stopped (SIGTERM) when the session ends, if not before."""
    started: list[Server] = []
    counter = iter(range(1, 1_000_000))

    def launch(name: str, store: str, *extra: str, data_dir: Path | None = None,
               port: int | None = None) -> Server:
        port = port or free_port()
        data = data_dir or tmp_path_factory.mktemp(f"{name}-data")
        server = start_server(f"{name}-{next(counter)}", [
            "--base-url", provider_relay.url,
            "--upstream-api-key", UPSTREAM_KEY,
            "--port", str(port),
            "--store", store,
            "--data-dir", str(data),
            *extra,
        ], "/health", log_dir, port=port)
        started.append(server)
        return server

    yield launch
    for server in started:
        server.stop()
