"""Which raw reasoning stream events a client gets. Pure: no I/O.

OpenAI streams a reasoning item's raw text as `response.reasoning_text.delta` / `.done`; the
Open Responses spec names the same events `response.reasoning.delta` / `.done`. Strict clients
of each family reject the other family's name: openai-node's `responses.stream()` helper
throws "Unhandled response stream event", and the Open Responses compliance suite fails every
event outside its own union. No name suits both, and sending both breaks both.

So the reasoning always streams through what both define: the
`response.reasoning_summary_part.*` / `response.reasoning_summary_text.*` events (which carry
the same text), `response.content_part.added` / `.done` with a `reasoning_text` part, and the
whole item, `summary` and `content`, in `response.output_item.done`. Raw text events come on
top, under one family's names, only for a client known to take them:
- the `X-Reasoning-Events` header names the family (`openai`, `open-responses`) or none
  (`summary`); on a WebSocket, the upgrade request's header counts;
- without it, a client built on an OpenAI SDK (they all send `X-Stainless-Lang`) or Codex CLI
  (`originator`) gets OpenAI's names: those SDKs know them, and some clients need them
  (Pydantic AI keeps a streamed reasoning item for the next turn only from the raw deltas);
- any other client gets none, which is what the Open Responses suite and strict clients of
  either family accept.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from .errors import InvalidRequest

__all__ = ["REASONING_EVENTS_HEADER", "RAW_REASONING_EVENTS", "raw_reasoning_events"]

# Headers only OpenAI's own clients send: every Stainless-built OpenAI SDK (and so the Agents
# SDKs, LangChain, Pydantic AI, ...) sends X-Stainless-Lang; Codex CLI sends `originator`.
_OPENAI_CLIENT_HEADERS = ("X-Stainless-Lang", "originator")

REASONING_EVENTS_HEADER = "X-Reasoning-Events"
# Header value -> the prefix of the raw text events (`<prefix>.delta` / `<prefix>.done`).
RAW_REASONING_EVENTS: Mapping[str, str | None] = MappingProxyType({
    "summary": None,
    "openai": "response.reasoning_text",
    "open-responses": "response.reasoning",
})


def raw_reasoning_events(headers: Mapping[str, str]) -> str | None:
    """The raw reasoning event prefix for a request with these (case-insensitive) headers;
    None: summary events only. Raises InvalidRequest for an unknown header value."""
    value = headers.get(REASONING_EVENTS_HEADER)
    if value is None or not value.strip():
        if any(name in headers for name in _OPENAI_CLIENT_HEADERS):
            return RAW_REASONING_EVENTS["openai"]
        return None
    key = value.strip().lower()
    if key not in RAW_REASONING_EVENTS:
        raise InvalidRequest(
            f"Invalid {REASONING_EVENTS_HEADER} header {value!r}: expected one of "
            f"{', '.join(RAW_REASONING_EVENTS)}.", param=REASONING_EVENTS_HEADER,
            code="invalid_value")
    return RAW_REASONING_EVENTS[key]
