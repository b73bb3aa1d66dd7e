"""Stored responses and conversations: one interface, several backends.

`open_store(url)` picks the backend from a URL: `sqlite:///path` (default), `redis://...`
(several replicas), `memory` (tests), `none` (stateless).
"""

from __future__ import annotations

from .base import (
    DEFAULT_OWNER,
    Conversation,
    RecordTooLarge,
    ResponseStore,
    StoredResponse,
    open_store,
)

__all__ = ["DEFAULT_OWNER", "Conversation", "RecordTooLarge", "ResponseStore", "StoredResponse",
           "open_store"]
