"""Issue 12 item 6: small leaks, file modes and the store's health, against real processes.

Log lines cannot be forged with CR/LF; the data directory and its files are private; a
provider's error body reaches clients only as a parsed, trimmed JSON message; a base URL with
credentials plus a key is refused at start; a store that is down makes /health say so and
stored requests fail with 503 before the provider is asked.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx2
import orjson
import pytest

from e2e_support import UPSTREAM_KEY, MockLog, Server, free_port

SECRET_PAGE = b"<html><body>internal proxy 10.1.2.3 token=hunter2</body></html>"
LONG_MESSAGE = "quota exceeded; " * 400  # 6,400 characters


class _Provider(BaseHTTPRequestHandler):
    """A provider that answers every chat request with the error its model names."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        model = orjson.loads(self.rfile.read(length)).get("model")
        if model == "who-am-i":  # reports how the gateway authenticated, as an error
            basic = self.headers.get("Authorization", "").startswith("Basic ")
            self._send(400, "application/json", orjson.dumps(
                {"error": {"message": f"basic auth: {basic}"}}))
        elif model == "html-error":
            self._send(502, "text/html", SECRET_PAGE)
        elif model == "long-error":
            self._send(400, "application/json", orjson.dumps(
                {"error": {"message": LONG_MESSAGE + UPSTREAM_KEY, "type": "invalid_request_error"}}))
        else:  # a 200 stream whose chunk is not JSON
            self._send(200, "text/event-stream", b"data: " + SECRET_PAGE + b"\n\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def odd_provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def odd_gateway(spawn_server: Callable[..., Server], odd_provider: str) -> Server:
    port = free_port()
    return spawn_server("odd-provider-gateway", [
        "--base-url", odd_provider, "--upstream-api-key", UPSTREAM_KEY, "--port", str(port),
        "--store", "none", "--provider", "generic",
    ], "/health", port=port)


@pytest.mark.parametrize("stream", [False, True])
def test_a_non_json_provider_error_is_described_never_quoted(odd_gateway: Server,
                                                             stream: bool) -> None:
    response = httpx2.post(odd_gateway.url + "/v1/responses", timeout=30, json={
        "model": "html-error", "input": "hi", "stream": stream})
    assert response.status_code == 502, response.text
    assert b"hunter2" not in response.content and b"10.1.2.3" not in response.content
    assert b"<html" not in response.content
    assert "not JSON" in response.json()["error"]["message"]


def test_a_non_json_stream_chunk_is_described_never_quoted(odd_gateway: Server) -> None:
    response = httpx2.post(odd_gateway.url + "/v1/responses", timeout=30, json={
        "model": "bad-chunk", "input": "hi", "stream": True})
    assert b"hunter2" not in response.content and b"<html" not in response.content


def test_a_provider_json_message_is_trimmed_and_never_shows_the_key(odd_gateway: Server) -> None:
    response = httpx2.post(odd_gateway.url + "/v1/responses", timeout=30, json={
        "model": "long-error", "input": "hi"})
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert message.startswith("quota exceeded;")
    assert len(message) <= 600
    assert UPSTREAM_KEY not in response.text


def test_base_url_credentials_with_a_key_are_refused_at_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESPONSES_GATEWAY_")}
    done = subprocess.run(
        [sys.executable, "-m", "responses_gateway", "--base-url",
         "http://user:s3cret-pass@127.0.0.1:9/v1", "--upstream-api-key", "sk-also",
         "--port", str(free_port()), "--store", "none"],
        capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode != 0
    assert "user:password@" in done.stderr and "API key" in done.stderr, done.stderr
    assert "s3cret-pass" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_base_url_credentials_alone_are_sent_as_basic_auth(
        spawn_server: Callable[..., Server], odd_provider: str) -> None:
    port = free_port()
    server = spawn_server("basic-auth-gateway", [
        "--base-url", odd_provider.replace("http://", "http://user:s3cret-pass@"),
        "--port", str(port), "--store", "none", "--provider", "generic",
    ], "/health", port=port)
    response = httpx2.post(server.url + "/v1/responses", timeout=30,
                           json={"model": "who-am-i", "input": "hi"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"] == "basic auth: True"
    health = httpx2.get(server.url + "/health", timeout=30).text
    assert "s3cret-pass" not in health and "s3cret-pass" not in server.output()


def test_data_directory_and_files_are_private(spawn_server: Callable[..., Server],
                                              mock_provider: Server, tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    port = free_port()
    previous = os.umask(0o022)  # the usual umask: files would be world-readable
    try:
        server = spawn_server("private-files-gateway", [
            "--base-url", f"{mock_provider.url}/v1", "--upstream-api-key", UPSTREAM_KEY,
            "--port", str(port), "--data-dir", str(data),
        ], "/health", port=port)
    finally:
        os.umask(previous)
    stored = httpx2.post(server.url + "/v1/responses", timeout=30,
                         json={"model": "mock-echo", "input": "keep me"})
    assert stored.status_code == 200, stored.text
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = sorted(p.name for p in data.iterdir())
    assert "responses.db" in files and "reasoning.key" in files, files
    for name in files:
        mode = stat.S_IMODE((data / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"


# -- the store's health ------------------------------------------------------------------


class _Redis:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._log.open("ab") as out:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)  # bounded wait for the server to listen
        pytest.fail("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[_Redis]:
    if subprocess.run(["which", "redis-server"], capture_output=True).returncode != 0:
        pytest.skip("redis-server is not installed")
    redis = _Redis(free_port(), tmp_path / "redis.log")
    redis.start()
    yield redis
    redis.stop()


def test_store_down_is_unhealthy_and_stored_requests_are_503(
        own_redis: _Redis, spawn_server: Callable[..., Server], mock_provider: Server,
        mock_log: MockLog) -> None:
    port = free_port()
    server = spawn_server("redis-down-gateway", [
        "--base-url", f"{mock_provider.url}/v1", "--upstream-api-key", UPSTREAM_KEY,
        "--port", str(port), "--store", f"redis://127.0.0.1:{own_redis.port}/0",
    ], "/health", port=port)
    first = httpx2.post(server.url + "/v1/responses", timeout=30,
                        json={"model": "mock-echo", "input": "before"})
    assert first.status_code == 200, first.text

    own_redis.stop()
    health = httpx2.get(server.url + "/health", timeout=30)
    assert health.status_code == 503, health.text
    assert health.json()["status"] == "unavailable"
    assert "redis" in health.json()["store_error"]
    mock_log.clear()
    for stream in (False, True):
        refused = httpx2.post(server.url + "/v1/responses", timeout=30,
                              json={"model": "mock-echo", "input": "lost?", "stream": stream})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "store_unavailable"
    assert mock_log.chat_requests() == []  # refused before anything was generated
    # Reading a stored response is a 503 too, not an internal error; the path's CR/LF is
    # logged escaped, not as a forged line.
    read = httpx2.get(server.url + "/v1/responses/resp_1%0d%0aFORGED%20ERROR%20line",
                      timeout=30)
    assert read.status_code == 503, read.text
    # A request that needs no store still works.
    unstored = httpx2.post(server.url + "/v1/responses", timeout=30,
                           json={"model": "mock-echo", "input": "x", "store": False})
    assert unstored.status_code == 200, unstored.text

    own_redis.start()
    deadline = time.monotonic() + 10
    while httpx2.get(server.url + "/health", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not see Redis come back"
        time.sleep(0.1)  # bounded polling for the reconnect
    again = httpx2.get(server.url + f"/v1/responses/{first.json()['id']}", timeout=30)
    assert again.status_code in (200, 404)  # the new Redis is empty; no 5xx either way
    output = server.output()
    assert "Traceback" not in output
    assert not any(line.startswith("FORGED") for line in output.splitlines())
    assert "\\r\\nFORGED" in output
