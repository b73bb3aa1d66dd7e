"""Helpers for the end-to-end tests: reading the gateway's raw SSE bytes and checking them.

The SDK hides the framing (`event:` lines, what comes after the terminal event), so streams are
also read here byte for byte and checked against DESIGN §4 and spec/real-clients.md §4.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import orjson
from schema_check import check_event_sequence, validate_event

__all__ = [
    "CLIENT_KEY",
    "GATEWAY_KEY",
    "START_TIMEOUT",
    "TERMINAL_TYPES",
    "UPSTREAM_KEY",
    "WEATHER_TOOL",
    "Frame",
    "MockLog",
    "Server",
    "checked_stream",
    "free_port",
    "parse_sse",
    "post_stream",
]

TERMINAL_TYPES = frozenset({"response.completed", "response.incomplete", "response.failed"})

# The function tool most tests offer (the mock calls it for "weather"/"tool" prompts).
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True,
}

UPSTREAM_KEY = "sk-upstream-test"
CLIENT_KEY = "sk-client"
GATEWAY_KEY = "gw-secret"
START_TIMEOUT = 60.0  # generous: a loaded CI machine starts many processes at once


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it for a socket bound to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One running subprocess and the URL it answers on."""

    name: str
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:<port>, no trailing slash
    log_path: Path
    upstream: str | None = None  # the base URL a gateway was pointed at

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


class MockLog:
    """What the fake provider received during the current test."""

    def __init__(self, provider: Server) -> None:
        self._url = provider.url + "/_mock/requests"

    def clear(self) -> None:
        response = httpx2.delete(self._url, timeout=5)
        assert response.status_code in (200, 204), response.text

    def requests(self) -> list[dict[str, Any]]:
        """Every request, in order: {"path", "headers" (lower-cased names), "body"}."""
        response = httpx2.get(self._url, timeout=5)
        assert response.status_code == 200, response.text
        return list(response.json()["requests"])

    def chat_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests() if r["path"].endswith("/chat/completions")]

    def last_chat(self) -> dict[str, Any]:
        """The last chat request the provider received (path, headers, body)."""
        chats = self.chat_requests()
        assert chats, f"the provider received no chat request; log: {self.requests()}"
        return chats[-1]

    def last_body(self) -> dict[str, Any]:
        body = self.last_chat()["body"]
        assert isinstance(body, dict), body
        return body


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE frame as sent: its `event:` value (None if absent) and its joined data lines."""

    event: str | None
    data: str

    def json(self) -> dict[str, Any]:
        value = orjson.loads(self.data)
        assert isinstance(value, dict), f"SSE data is not a JSON object: {self.data[:200]}"
        return value


def parse_sse(raw: bytes) -> list[Frame]:
    """Split an SSE body into frames; the body must end on a frame boundary."""
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n\n"), f"stream ends mid-frame: {text[-200:]!r}"
    frames: list[Frame] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block:
            continue
        event: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        if data:
            frames.append(Frame(event, "\n".join(data)))
    return frames


def post_stream(http: httpx2.Client, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> tuple[httpx2.Response, list[Frame]]:
    """POST /v1/responses and read the whole answer as raw SSE frames."""
    response = http.post("/v1/responses", content=orjson.dumps(body),
                         headers={"Content-Type": "application/json", **(headers or {})})
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:500]}"
    return response, parse_sse(response.content)


def checked_stream(response: httpx2.Response, frames: list[Frame]) -> list[dict[str, Any]]:
    """Check the framing and every event; return the events' data objects.

    - Content-Type is text/event-stream;
    - every frame has `event: <type>` equal to its data's `type` (no `[DONE]` or other data);
    - sequence_number runs 0..n-1, exactly one terminal event and it is the last frame;
    - every event passes the SDK type and the Open Responses schema, and the stream as a
      whole the ordering/identity rules (schema_check.check_event_sequence).
    """
    content_type = response.headers.get("content-type", "")
    assert content_type.split(";")[0].strip() == "text/event-stream", content_type
    assert frames, "the stream carried no events"
    events = []
    for n, frame in enumerate(frames):
        assert frame.data != "[DONE]", f"frame {n} is a [DONE] sentinel (not enabled)"
        event = frame.json()
        assert frame.event == event.get("type"), (
            f"frame {n}: 'event: {frame.event}' but data type {event.get('type')!r}")
        events.append(event)
    numbers = [e.get("sequence_number") for e in events]
    assert numbers == list(range(len(events))), f"sequence numbers: {numbers}"
    terminals = [n for n, e in enumerate(events) if e["type"] in TERMINAL_TYPES]
    assert terminals == [len(events) - 1], (
        f"terminal events at {terminals} of {len(events)}: {[e['type'] for e in events]}")
    for event in events:
        validate_event(event)
    check_event_sequence(events)
    return events
