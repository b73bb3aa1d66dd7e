"""Which raw reasoning stream events a client gets. Pure: no I/O.

OpenAI streams a reasoning item's raw text as `response.reasoning_text.delta` / `.done`; the
Open Responses spec names the same events `response.reasoning.delta` / `.done`. Strict clients
of each family reject the other family's name: openai-node's `responses.stream()` helper
throws "Unhandled response stream event", and the Open Responses compliance suite fails every
event outside its own union. No name suits both, and sending both breaks both.

So by default the reasoning reaches the client only through what both define: the
`response.reasoning_summary_part.*` / `response.reasoning_summary_text.*` events (which carry
the same text), `response.content_part.added` / `.done` with a `reasoning_text` part, and the
whole item, `summary` and `content`, in `response.output_item.done`. Every client we test
shows reasoning from these. A request that wants one family's raw text events as well names
the family in the `X-Reasoning-Events` header (on a WebSocket: on the upgrade request).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from .errors import InvalidRequest

__all__ = ["REASONING_EVENTS_HEADER", "RAW_REASONING_EVENTS", "raw_reasoning_events"]

REASONING_EVENTS_HEADER = "X-Reasoning-Events"
# Header value -> the prefix of the raw text events (`<prefix>.delta` / `<prefix>.done`).
RAW_REASONING_EVENTS: Mapping[str, str | None] = MappingProxyType({
    "summary": None,
    "openai": "response.reasoning_text",
    "open-responses": "response.reasoning",
})


def raw_reasoning_events(value: str | None) -> str | None:
    """The raw reasoning event prefix a header value asks for (None: summary events only)."""
    if value is None or not value.strip():
        return None
    key = value.strip().lower()
    if key not in RAW_REASONING_EVENTS:
        raise InvalidRequest(
            f"Invalid {REASONING_EVENTS_HEADER} header {value!r}: expected one of "
            f"{', '.join(RAW_REASONING_EVENTS)}.", param=REASONING_EVENTS_HEADER,
            code="invalid_value")
    return RAW_REASONING_EVENTS[key]
