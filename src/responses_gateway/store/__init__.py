"""Stored responses and conversations: one interface, several backends.

`open_store(url)` picks the backend from a URL: `sqlite:///path` (default), `redis://...`
(several replicas), `memory` (tests), `none` (stateless).
"""

from __future__ import annotations

from .base import Conversation, ResponseStore, StoredResponse, open_store

__all__ = ["Conversation", "ResponseStore", "StoredResponse", "open_store"]
