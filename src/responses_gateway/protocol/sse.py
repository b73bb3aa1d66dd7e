"""Server-sent events: encoding our frames, decoding the provider's. Pure: no I/O."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["DONE_FRAME", "SseDecoder", "encode_event"]

DONE_FRAME = b"data: [DONE]\n\n"


def encode_event(event: dict[str, Any]) -> bytes:
    """One Responses event as an SSE frame: `event: <type>` then `data: <json>`."""
    return b"".join(
        (b"event: ", event["type"].encode(), b"\ndata: ", orjson.dumps(event), b"\n\n")
    )


class SseDecoder:
    """Incremental SSE parser: feed bytes as they arrive, get back each event's data string.

    Handles frames split anywhere (including inside a CRLF), comment lines, multi-line data
    fields and events without a trailing blank line at the end of input (`flush()`). Lines
    are split by us rather than by a line reader because one tool-call chunk can be larger
    than any reader's line limit.
    """

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[str]:
        buffer = self._buffer + chunk if self._buffer else chunk
        out: list[str] = []
        start = 0
        length = len(buffer)
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                # A lone trailing CR may be the first half of a CRLF: keep it for later.
                break
            line = buffer[start:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            start = end + 1
            self._take_line(line, out)
        rest = buffer[start:length] if start < length else b""
        # Bare-CR line endings are legal SSE but no provider uses them; a CR-only stream
        # still terminates on flush().
        self._buffer = rest
        return out

    def flush(self) -> list[str]:
        out: list[str] = []
        if self._buffer:
            line = self._buffer.rstrip(b"\r")
            self._buffer = b""
            self._take_line(line, out)
        if self._data:
            self._take_line(b"", out)
        return out

    def _take_line(self, line: bytes, out: list[str]) -> None:
        if not line:
            if self._data:
                out.append(b"\n".join(self._data).decode("utf-8", "replace"))
                self._data = []
            return
        if line.startswith(b"data:"):
            value = line[5:]
            if value.startswith(b" "):
                value = value[1:]
            self._data.append(value)
        # Comments (":"), event:, id: and retry: carry nothing chat completions needs.
