"""End to end: streams over a silent provider (issue 12 item 3).

The mock provider's `mock-stall` sends the role chunk and two content chunks, then stays
silent until its client (the gateway) closes the connection; `mock-stall-start` is silent
from the start. The provider relay (conftest.ProviderRelay) shows when the gateway closed an
upstream connection. Checked here, against real processes:

- SSE keep-alive comments arrive every `--sse-keepalive` seconds while the provider is
  silent, before the first event too, and the openai SDK reads such a stream strictly;
- a client that leaves during a silence is noticed within a second: the upstream request is
  closed and the response is stored as `incomplete` with what was produced;
- a follower of a background run (resume, or `background` + `stream`) stops when its
  client leaves.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable, Iterator

import orjson
import pytest
from e2e_support import CLIENT_KEY, Server, checked_stream, parse_sse
from schema_check import validate_event
from test_stateful import create, raw_http, retrieve, sdk, settled, wait_for

KEEPALIVE = b": keep-alive\n\n"


@pytest.fixture(scope="module")
def quick(launch_gateway: Callable[..., Server]) -> Iterator[Server]:
    """Keep-alive every 0.15 s: silences show up fast."""
    server = launch_gateway("keepalive", "memory", "--sse-keepalive", "0.15")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def default(launch_gateway: Callable[..., Server]) -> Iterator[Server]:
    """The default keep-alive (15 s): nothing is written during a short silence, so only
    watching the connection can notice a client that left."""
    server = launch_gateway("leave", "memory")
    yield server
    server.stop()


class RawStream:
    """POST /v1/responses over a plain socket: read what arrives, and hang up at will."""

    def __init__(self, server: Server, body: dict[str, Any], path: str = "/v1/responses",
                 method: str = "POST") -> None:
        host, port = server.url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        payload = orjson.dumps(body) if method == "POST" else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {CLIENT_KEY}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
        self.sock.sendall(head + payload)
        self.raw = b""

    def read_until(self, marker: bytes, timeout: float) -> float:
        """Read until `marker` was received (count it in the body); returns when."""
        deadline = time.monotonic() + timeout
        while marker not in self.raw:
            left = deadline - time.monotonic()
            assert left > 0, f"{marker!r} did not arrive within {timeout} s: {self.raw[-600:]!r}"
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            assert data, f"the gateway closed the stream early: {self.raw[-600:]!r}"
            self.raw += data
        return time.monotonic()

    def read_to_end(self, timeout: float) -> None:
        """Read until the gateway closes the connection (the request said `close`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"the answer did not end within {timeout} s: {self.raw[-600:]!r}"
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                return
            self.raw += data

    def read_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, socket.timeout):
                break
            if not data:
                break
            self.raw += data

    @property
    def body(self) -> bytes:
        """The SSE body, chunked transfer encoding removed."""
        _, _, rest = self.raw.partition(b"\r\n\r\n")
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        return out

    def events(self) -> list[dict[str, Any]]:
        body = self.body
        whole = body[:body.rfind(b"\n\n") + 2] if b"\n\n" in body else b""
        return [frame.json() for frame in parse_sse(whole)]

    def leave(self) -> float:
        self.sock.close()
        return time.monotonic()


def _wait_closed(provider_relay: Any, since: float, limit: float) -> float:
    """Seconds from `since` until the gateway closed an upstream connection."""
    while provider_relay.requests_closed_by_gateway() < 1:
        elapsed = time.monotonic() - since
        assert elapsed < limit, (
            f"the gateway did not close its upstream request within {limit} s of the client "
            f"leaving: {provider_relay.summary()}")
        time.sleep(0.01)
    return time.monotonic() - since


def test_keepalive_comments_while_the_provider_is_silent(quick: Server) -> None:
    stream = RawStream(quick, {"model": "mock-stall", "input": "think quietly", "stream": True})
    try:
        stream.read_until(b"said: ", timeout=10)
        at = len(stream.body)
        stream.read_for(1.0)
        silence = stream.body[at:]
        # Nothing but comments during the silence: ~6 of them in 1 s at one per 0.15 s.
        assert silence.replace(KEEPALIVE, b"") == b"", silence
        assert 3 <= silence.count(KEEPALIVE) <= 8, silence
        events = stream.events()
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        for event in events:
            validate_event(event)
    finally:
        stream.leave()


def test_keepalive_before_the_first_chunk(quick: Server) -> None:
    """A provider silent before its first chunk: the headers go out with the first keep-alive."""
    stream = RawStream(quick, {"model": "mock-stall-start", "input": "x", "stream": True})
    try:
        started = time.monotonic()
        arrived = stream.read_until(KEEPALIVE, timeout=5)
        assert arrived - started < 1.5
        assert stream.raw.startswith(b"HTTP/1.1 200")
        assert b"text/event-stream" in stream.raw.split(b"\r\n\r\n")[0]
        assert stream.events() == []
    finally:
        stream.leave()


def test_the_sdk_reads_a_stream_with_keepalives_strictly(quick: Server) -> None:
    """`mock-slow` pauses 0.2 s between chunks: keep-alives (0.15 s) fall between events."""
    with raw_http(quick) as http:
        response = http.post("/v1/responses", json={"model": "mock-slow", "stream": True,
                                                    "input": "w1 w2 w3 w4 w5 w6 w7 w8"})
        assert response.status_code == 200
        assert KEEPALIVE in response.content
        checked_stream(response, parse_sse(response.content))
    with sdk(quick) as client:
        events = list(client.responses.create(model="mock-slow", stream=True,
                                              input="w1 w2 w3 w4 w5 w6 w7 w8"))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == "You said: w1 w2 w3 w4 w5 w6 w7 w8"


def test_a_client_that_leaves_during_a_silence_is_noticed_within_a_second(
        default: Server, provider_relay: Any) -> None:
    provider_relay.reset()
    stream = RawStream(default, {"model": "mock-stall", "input": "hello there friend",
                                 "stream": True})
    stream.read_until(b"said: ", timeout=10)
    response_id = stream.events()[0]["response"]["id"]
    time.sleep(0.5)  # into the silence
    assert provider_relay.requests_closed_by_gateway() == 0
    took = _wait_closed(provider_relay, stream.leave(), limit=1.0)
    assert took < 1.0
    # Stored with what was produced.
    with sdk(default) as client:
        stored = retrieve(client, response_id)
    assert stored["status"] == "incomplete"
    assert stored["output"][0]["status"] == "incomplete"
    assert stored["output"][0]["content"][0]["text"] == "You said: "
    assert "client left the stream of " + response_id in default.output()


def test_a_client_that_leaves_before_the_first_chunk_is_noticed(
        default: Server, provider_relay: Any) -> None:
    provider_relay.reset()
    stream = RawStream(default, {"model": "mock-stall-start", "input": "x", "stream": True})
    time.sleep(0.6)
    assert provider_relay.requests_closed_by_gateway() == 0
    assert _wait_closed(provider_relay, stream.leave(), limit=1.0) < 1.0


def test_a_resume_follower_stops_when_its_client_leaves(default: Server) -> None:
    with sdk(default) as client:
        queued = create(client, model="mock-stall", input="stall in the background",
                        background=True)
        wait_for(client, queued["id"], lambda body: body["status"] == "in_progress")
        before = default.output().count("client left the stream of a background response")
        follower = RawStream(default, {}, path=f"/v1/responses/{queued['id']}?stream=true",
                             method="GET")
        follower.read_until(b"said: ", timeout=10)
        time.sleep(0.3)
        left = follower.leave()
        while default.output().count(
                "client left the stream of a background response") == before:
            assert time.monotonic() - left < 1.0, "the follower did not notice its client left"
            time.sleep(0.02)
        # The run itself goes on until cancelled.
        assert retrieve(client, queued["id"])["status"] == "in_progress"
        client.responses.cancel(queued["id"])
        wait_for(client, queued["id"], settled)


def test_a_background_stream_follower_stops_when_its_client_leaves(default: Server) -> None:
    before = default.output().count("client left the stream of a background response")
    stream = RawStream(default, {"model": "mock-stall", "input": "follow me", "stream": True,
                                 "background": True})
    stream.read_until(b"said: ", timeout=10)
    response_id = stream.events()[0]["response"]["id"]
    time.sleep(0.3)
    left = stream.leave()
    while default.output().count("client left the stream of a background response") == before:
        assert time.monotonic() - left < 1.0, "the follower did not notice its client left"
        time.sleep(0.02)
    with sdk(default) as client:
        client.responses.cancel(response_id)
        assert retrieve(client, response_id)["status"] == "cancelled"


def test_openai_sdk_closing_a_stream_early_stores_it_incomplete(default: Server,
                                                                provider_relay: Any) -> None:
    provider_relay.reset()
    with sdk(default) as client:
        with client.responses.create(model="mock-stall", input="close me", stream=True) as events:
            response_id = None
            for event in events:
                if event.type == "response.created":
                    response_id = event.response.id
                if event.type == "response.output_text.delta":
                    break
        assert response_id is not None
        _wait_closed(provider_relay, time.monotonic(), limit=1.0)
        stored = retrieve(client, response_id)
        assert stored["status"] == "incomplete"
        assert stored["output"][0]["content"][0]["text"].startswith("You")



def test_a_client_that_leaves_a_request_that_does_not_stream_is_noticed(
        default: Server, provider_relay: Any) -> None:
    """The same for `stream: false`: a long answer being waited for is one long silence."""
    provider_relay.reset()
    request = RawStream(default, {"model": "mock-stall", "input": "answer slowly"})
    time.sleep(0.6)
    assert provider_relay.requests_closed_by_gateway() == 0
    assert _wait_closed(provider_relay, request.leave(), limit=1.0) < 1.0
