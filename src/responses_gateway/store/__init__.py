"""Stored responses and conversations: one interface, several backends.

`open_store(url)` picks the backend from a URL: `sqlite:///path` (the default), `redis://...`
and `postgresql://...` (several replicas), `memory` (tests), `none` (stateless). The
backends import the interface from `base`; only this module knows them all.
"""

from __future__ import annotations

from typing import Any

from .base import DEFAULT_OWNER, Conversation, RecordTooLarge, ResponseStore, StoredResponse

__all__ = ["DEFAULT_OWNER", "Conversation", "RecordTooLarge", "ResponseStore", "StoredResponse",
           "open_store"]


def open_store(url: str, **bounds: Any) -> ResponseStore | None:
    """The store for a `--store` URL; None for `none` (stateless). `bounds` are the
    ResponseStore keyword arguments (ttl, max_entries, max_owner_bytes, max_record_bytes)."""
    if url in ("none", "off", ""):
        return None
    if url == "memory":
        from .memory import MemoryStore

        return MemoryStore(**bounds)
    if url.startswith("sqlite:"):
        from .sqlite import SqliteStore

        path = url.removeprefix("sqlite:").removeprefix("//")
        return SqliteStore(path or ":memory:", **bounds)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url, **bounds)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, **bounds)
    raise ValueError(f"unknown store URL {url!r}; use sqlite:///path, redis://host:port/db, "
                     "postgresql://user@host/db, memory or none")
