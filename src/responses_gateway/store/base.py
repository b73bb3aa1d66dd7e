"""The store interface and its records. Backends implement the abstract methods only.

Records are plain dataclasses of JSON-able values; backends serialise them with orjson.
Times are Unix seconds (float) passed in by callers, so backends need no clock of their own
except for expiry.
"""

from __future__ import annotations

import abc
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import orjson

__all__ = ["Conversation", "ResponseStore", "StoredResponse", "open_store"]

# A cancelled response also ends with `response.failed` (its status says `cancelled`): the
# Responses API has no separate event for it.
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


@dataclass(slots=True, kw_only=True)
class StoredResponse:
    """One response and what is needed to continue from it."""

    id: str
    response: dict[str, Any]  # the Response object, as last reported
    input_items: list[dict[str, Any]] = field(default_factory=list)  # this turn's, with ids
    # The chat history to continue from: earlier turns, this turn's input and the assistant's
    # reply, exactly as sent to / received from the provider (instructions excluded: they
    # are not carried over to the next response).
    messages: list[dict[str, Any]] = field(default_factory=list)
    upstream: str = ""  # name of the upstream that served it
    lease_until: float | None = None  # while running: the runner's liveness deadline
    expires_at: float = 0.0

    def to_json(self) -> bytes:
        return orjson.dumps(self)  # orjson reads dataclasses directly (asdict deep-copies)

    @classmethod
    def from_json(cls, raw: bytes | str) -> StoredResponse:
        return cls(**orjson.loads(raw))

    @property
    def status(self) -> str:
        return str(self.response.get("status"))


@dataclass(slots=True, kw_only=True)
class Conversation:
    """A Conversations API object. Its items are translated for the upstream at use, so a
    conversation can move between providers."""

    id: str
    created_at: int
    metadata: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    expires_at: float = 0.0

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Conversation:
        return cls(**orjson.loads(raw))

    def to_object(self) -> dict[str, Any]:
        return {"id": self.id, "object": "conversation", "created_at": self.created_at,
                "metadata": self.metadata}


class ResponseStore(abc.ABC):
    """Where responses, their stream events, cancel requests and conversations live.

    `ttl` bounds how long anything is kept (seconds); `max_entries` bounds how many
    responses are kept (the oldest go first). Every method is safe to call concurrently.
    """

    name = "abstract"
    # The backend's exceptions that mean "cannot reach / write the store right now": shown to
    # clients as 503 store_unavailable rather than as an internal error.
    outage_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, *, ttl: float = 30 * 86400, max_entries: int = 100_000) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("store ttl and max_entries must be positive")
        self.ttl = ttl
        self.max_entries = max_entries

    def expiry(self) -> float:
        return time.time() + self.ttl

    # -- responses ----------------------------------------------------------------------
    @abc.abstractmethod
    async def put(self, record: StoredResponse) -> None:
        """Insert or replace a response (its `expires_at` is set by the caller)."""

    @abc.abstractmethod
    async def get(self, response_id: str) -> StoredResponse | None:
        """The response, or None if unknown, deleted or expired."""

    @abc.abstractmethod
    async def delete(self, response_id: str) -> bool:
        """Remove a response and its events; False if it did not exist."""

    # -- stream events (background responses, for resume) -------------------------------
    @abc.abstractmethod
    async def append_events(self, response_id: str, events: list[dict[str, Any]]) -> None:
        """Append events (each has a `sequence_number`) to the response's event log."""

    @abc.abstractmethod
    async def events_after(self, response_id: str, after: int) -> list[dict[str, Any]]:
        """Logged events whose sequence_number > after, in order."""

    async def wait_for_events(self, response_id: str, after: int, timeout: float) -> None:
        """Return when events after `after` may exist, or after `timeout` s (poll by default)."""
        await asyncio.sleep(min(timeout, 0.05))

    async def follow_events(self, response_id: str, after: int = -1,
                            *, idle_timeout: float = 600.0) -> AsyncIterator[dict[str, Any]]:
        """Yield logged events after `after`, then live ones, until a terminal event."""
        deadline = time.monotonic() + idle_timeout
        while True:
            events = await self.events_after(response_id, after)
            for event in events:
                after = event["sequence_number"]
                yield event
                if event["type"] in TERMINAL_EVENTS:
                    return
            if events:
                deadline = time.monotonic() + idle_timeout
            elif time.monotonic() > deadline:
                return
            else:
                await self.wait_for_events(response_id, after, 1.0)

    # -- cancellation (works across replicas on shared backends) ------------------------
    @abc.abstractmethod
    async def request_cancel(self, response_id: str) -> None:
        """Ask whichever process runs the response to cancel it."""

    @abc.abstractmethod
    async def cancel_requested(self, response_id: str) -> bool:
        """Whether a cancel was requested for the response."""

    # -- conversations --------------------------------------------------------------------
    @abc.abstractmethod
    async def put_conversation(self, conversation: Conversation) -> None:
        """Insert or replace a conversation."""

    @abc.abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation, or None."""

    @abc.abstractmethod
    async def delete_conversation(self, conversation_id: str) -> bool:
        """Remove a conversation; False if it did not exist."""

    @abc.abstractmethod
    async def edit_conversation(self, conversation_id: str,
                                edit: Callable[[Conversation], None]) -> Conversation | None:
        """Apply `edit` to the stored conversation atomically (concurrent edits, also from
        other replicas, never lose each other's changes), renew its expiry, and return it;
        None if it does not exist. `edit` must be pure: it may run more than once."""

    async def append_conversation_items(self, conversation_id: str,
                                        items: list[dict[str, Any]]) -> bool:
        """Add items at the end of a conversation; False if it does not exist."""
        found = await self.edit_conversation(conversation_id,
                                             lambda conversation: conversation.items.extend(items))
        return found is not None

    # -- housekeeping -------------------------------------------------------------------
    @abc.abstractmethod
    async def purge_expired(self) -> int:
        """Remove expired records; returns how many responses were removed."""

    async def close(self) -> None:
        """Release connections and files."""

    async def ping(self) -> None:
        """Raise one of `outage_errors` if the store cannot be used now."""


def open_store(url: str, *, ttl: float = 30 * 86400,
               max_entries: int = 100_000) -> ResponseStore | None:
    """The store for a `--store` URL; None for `none` (stateless)."""
    if url in ("none", "off", ""):
        return None
    if url == "memory":
        from .memory import MemoryStore

        return MemoryStore(ttl=ttl, max_entries=max_entries)
    if url.startswith("sqlite:"):
        from .sqlite import SqliteStore

        path = url.removeprefix("sqlite:").removeprefix("//")
        return SqliteStore(path or ":memory:", ttl=ttl, max_entries=max_entries)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url, ttl=ttl, max_entries=max_entries)
    raise ValueError(f"unknown store URL {url!r}; use sqlite:///path, redis://host:port/db, "
                     "memory or none")
