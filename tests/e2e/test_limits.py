"""Issue 12 item 2: limits, each a setting, against the real gateway process.

Per-key concurrency (requests, streams, background runs) with 429 + Retry-After naming the
limit; the wait for an upstream connection slot; header, body and keep-alive timeouts; the
cap on open client connections; body size as sent and after decompression.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import orjson
import pytest

from e2e_support import UPSTREAM_KEY, MockLog, Server, free_port

KEY_A, KEY_B = "sk-tenant-a", "sk-tenant-b"
# mock-slow waits 0.2 s between word chunks: 150 words keep a stream open for ~30 s.
LONG = " ".join(["word"] * 150)


@pytest.fixture(scope="module")
def limited(spawn_server: Callable[..., Server], mock_provider: Server) -> Server:
    port = free_port()
    return spawn_server("limited-gateway", [
        "--base-url", f"{mock_provider.url}/v1", "--port", str(port), "--store", "memory",
        "--api-key", KEY_A, "--api-key", KEY_B,
        "--max-requests-per-key", "2", "--max-streams-per-key", "1",
        "--header-timeout", "0.5", "--keepalive-timeout", "1", "--body-timeout", "0.5",
        "--max-compressed-body-bytes", "4096", "--max-body-bytes", "65536",
    ], "/health", port=port, env={"RESPONSES_GATEWAY_UPSTREAM_API_KEY": UPSTREAM_KEY})


def _client(server: Server, key: str) -> httpx2.Client:
    return httpx2.Client(base_url=server.url, timeout=30,
                         headers={"Authorization": f"Bearer {key}",
                                  "Content-Type": "application/json"})


@pytest.fixture
def as_a(limited: Server) -> Iterator[httpx2.Client]:
    with _client(limited, KEY_A) as client:
        yield client


@pytest.fixture
def as_b(limited: Server) -> Iterator[httpx2.Client]:
    with _client(limited, KEY_B) as client:
        yield client


class _OpenStream:
    """A streamed response kept open in a thread until `close()`."""

    def __init__(self, server: Server, key: str) -> None:
        self.started = threading.Event()
        self.status: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(server, key), daemon=True)
        self._thread.start()
        assert self.started.wait(15), "the stream did not start"

    def _run(self, server: Server, key: str) -> None:
        body = orjson.dumps({"model": "mock-slow", "input": LONG, "stream": True})
        with _client(server, key) as client, \
                client.stream("POST", "/v1/responses", content=body) as response:
            self.status = response.status_code
            self.started.set()
            for _ in response.iter_bytes():
                if self._stop.is_set():
                    return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def _assert_429(response: httpx2.Response, code: str, flag: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers.get("Retry-After") == "1"
    error = response.json()["error"]
    assert error["code"] == code
    assert flag in error["message"]  # the error names the limit


def _settled(check: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)  # bounded polling: the gateway releases a slot when a stream ends
    return False


def test_streams_beyond_the_per_key_limit_are_429_and_other_keys_go_on(
        limited: Server, as_a: httpx2.Client, as_b: httpx2.Client, mock_log: MockLog) -> None:
    held = _OpenStream(limited, KEY_A)
    try:
        assert held.status == 200
        asked = len(mock_log.chat_requests())
        refused = as_a.post("/v1/responses", content=orjson.dumps(
            {"model": "mock-echo", "input": "one more", "stream": True}))
        _assert_429(refused, "concurrent_streams_limit", "--max-streams-per-key")
        assert len(mock_log.chat_requests()) == asked  # refused before the provider is asked
        # A non-streamed request of the same key still fits its request limit (2) ...
        assert as_a.post("/v1/responses", content=orjson.dumps(
            {"model": "mock-echo", "input": "json"})).status_code == 200
        # ... and another key is not held up at all.
        other = as_b.post("/v1/responses", content=orjson.dumps(
            {"model": "mock-echo", "input": "hi", "stream": True}))
        assert other.status_code == 200, other.text
    finally:
        held.close()
    # The slot is given back when the stream ends.
    assert _settled(lambda: as_a.post("/v1/responses", content=orjson.dumps(
        {"model": "mock-echo", "input": "again", "stream": True})).status_code == 200)


def test_background_runs_count_against_the_key_until_they_end(
        as_a: httpx2.Client, as_b: httpx2.Client) -> None:
    body = orjson.dumps({"model": "mock-slow", "input": LONG, "background": True})
    runs = []
    for _ in range(2):
        started = as_a.post("/v1/responses", content=body)
        assert started.status_code == 200, started.text
        runs.append(started.json()["id"])
    try:
        # Both of A's slots are held by its runs: new work is refused ...
        refused = as_a.post("/v1/responses", content=orjson.dumps(
            {"model": "mock-echo", "input": "hi"}))
        _assert_429(refused, "concurrent_requests_limit", "--max-requests-per-key")
        assert "background" in refused.json()["error"]["message"]
        # ... but A can still poll its runs (and cancel them, below); B is not held up.
        assert as_a.get(f"/v1/responses/{runs[0]}").status_code == 200
        assert as_b.post("/v1/responses", content=orjson.dumps(
            {"model": "mock-echo", "input": "hi"})).status_code == 200
    finally:
        for run in runs:
            _settled(lambda run=run: as_a.post(f"/v1/responses/{run}/cancel").status_code
                     == 200)
    assert _settled(lambda: as_a.post("/v1/responses", content=orjson.dumps(
        {"model": "mock-echo", "input": "hi"})).status_code == 200)


def test_a_connection_that_sends_no_request_head_is_closed(limited: Server) -> None:
    port = int(limited.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the gateway, not by our 5 s timeout
        assert time.monotonic() - started < 3


def test_an_idle_kept_alive_connection_is_closed(limited: Server) -> None:
    port = int(limited.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        while sock.recv(65536):  # the rest of the body, then the close
            pass
        assert time.monotonic() - started < 4


def test_a_body_that_does_not_arrive_in_time_is_408(limited: Server,
                                                     mock_log: MockLog) -> None:
    port = int(limited.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer " + KEY_A.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"--body-timeout" in answer
    assert mock_log.chat_requests() == []


def test_body_size_is_limited_as_sent_and_after_decompression(
        as_a: httpx2.Client, mock_log: MockLog) -> None:
    padding = {"model": "mock-echo", "input": "x" * 5000}
    too_long = as_a.post("/v1/responses", content=orjson.dumps(padding))
    assert too_long.status_code == 413, too_long.text
    assert "--max-compressed-body-bytes" in too_long.json()["error"]["message"]
    # 200 KB of JSON in under 4 KB of gzip: passes the first limit, not the second.
    bomb = gzip.compress(orjson.dumps({"model": "mock-echo", "input": " " * 200_000}))
    assert len(bomb) < 4096
    inflated = as_a.post("/v1/responses", content=bomb, headers={"Content-Encoding": "gzip"})
    assert inflated.status_code == 413, inflated.text
    assert "--max-body-bytes" in inflated.json()["error"]["message"]
    small = gzip.compress(orjson.dumps({"model": "mock-echo", "input": "zipped"}))
    fine = as_a.post("/v1/responses", content=small, headers={"Content-Encoding": "gzip"})
    assert fine.status_code == 200, fine.text
    assert len(mock_log.chat_requests()) == 1


# -- the upstream pool and client connections, each on its own gateway -----------------


def test_waiting_for_an_upstream_connection_slot_times_out_as_503(
        spawn_server: Callable[..., Server], mock_provider: Server) -> None:
    port = free_port()
    server = spawn_server("pool-gateway", [
        "--base-url", f"{mock_provider.url}/v1", "--upstream-api-key", UPSTREAM_KEY,
        "--port", str(port), "--store", "none",
        "--upstream-connections", "1", "--pool-timeout", "0.5",
    ], "/health", port=port)
    held = _OpenStream(server, "any")
    try:
        started = time.monotonic()
        with httpx2.Client(base_url=server.url, timeout=30) as client:
            waited = client.post("/v1/responses", json={"model": "mock-echo", "input": "hi"})
        assert waited.status_code == 503, waited.text
        assert 0.4 < time.monotonic() - started < 5
        assert waited.headers.get("Retry-After") == "1"
        error: dict[str, Any] = waited.json()["error"]
        assert error["code"] == "upstream_pool_exhausted"
        assert "--pool-timeout" in error["message"]
    finally:
        held.close()


def test_connections_beyond_the_cap_get_503_and_are_closed(
        spawn_server: Callable[..., Server], mock_provider: Server) -> None:
    port = free_port()
    server = spawn_server("capped-gateway", [
        "--base-url", f"{mock_provider.url}/v1", "--upstream-api-key", UPSTREAM_KEY,
        "--port", str(port), "--store", "none", "--max-client-connections", "3",
    ], "/health", port=port)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.2)  # let the gateway accept them
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            extra.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = b""
            while chunk := extra.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
        assert b"--max-client-connections" in answer
    finally:
        for sock in idle:
            sock.close()
    assert _settled(lambda: httpx2.get(server.url + "/health", timeout=5).status_code == 200)
    assert "Traceback" not in server.output() and "Error" not in server.output()
