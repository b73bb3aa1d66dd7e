"""Server-sent events: encoding our frames, decoding the provider's. Pure: no I/O."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["DONE_FRAME", "KEEPALIVE_FRAME", "SseDecoder", "encode_event"]

DONE_FRAME = b"data: [DONE]\n\n"
# A comment line: every SSE client ignores it, and it keeps idle-timeout proxies from
# closing a stream whose provider is thinking silently.
KEEPALIVE_FRAME = b": keep-alive\n\n"


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

    __slots__ = ("_data", "_pieces")

    def __init__(self) -> None:
        self._pieces: list[bytes] = []  # the unfinished line, in the pieces it arrived in
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[str]:
        if b"\n" not in chunk:
            # Still inside one line (a big tool-call frame arrives in many reads): keep the
            # piece and rescan nothing, so a long line costs O(size), not O(size^2).
            if chunk:
                self._pieces.append(chunk)
            return []
        buffer = b"".join(self._pieces) + chunk if self._pieces else chunk
        self._pieces = []
        out: list[str] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            if line.endswith(b"\r"):
                line = line[:-1]
            start = end + 1
            self._take_line(line, out)
        if start < len(buffer):
            # A lone trailing CR may be the first half of a CRLF: it stays with the line.
            self._pieces.append(buffer[start:])
        return out

    def flush(self) -> list[str]:
        out: list[str] = []
        if self._pieces:
            line = b"".join(self._pieces).rstrip(b"\r")
            self._pieces = []
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
