"""The store interface and its records. Backends implement the abstract methods only.

Records are plain dataclasses of JSON-able values; backends serialise them with orjson.
Times are Unix seconds (float) passed in by callers, so backends need no clock of their own
except for expiry.

Tenancy: every response and conversation carries an `owner`, a keyed hash of the client key
that made it ("" when the gateway has no client keys: one tenant, and the owner of records
written before owners existed). Handlers read through `get_owned` / `get_conversation_owned`
/ `find_items`, which treat another owner's record as absent. Backends keep the bounds per
owner, responses and conversations together: `max_entries` records and `max_owner_bytes`
serialised bytes; a write beyond either evicts that owner's oldest records (responses by
first write, conversations by last write), never another owner's and never the record just
written. One serialised record may not exceed `max_record_bytes` (`RecordTooLarge`).

Item index: every item id in a stored response (its input items and output) or conversation
maps to the record holding it, so an `item_reference` finds the item by id alone for as long
as that record is kept (`locate_items`; a response overrides a conversation, the latest
response wins). Conversation ids start with `conv_`, response ids do not.
"""

from __future__ import annotations

import abc
import asyncio
import time
from dataclasses import dataclass, field, fields
from typing import Any, AsyncIterator, Callable

import orjson

from .dedup import restore_messages, shrink_messages

__all__ = ["DEFAULT_OWNER", "Conversation", "RecordTooLarge", "ResponseStore", "StoredResponse"]

# The owner when no client keys are configured, and of records stored before owners existed.
DEFAULT_OWNER = ""
CONVERSATION_PREFIX = "conv_"

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
    owner: str = DEFAULT_OWNER  # keyed hash of the client key that made it

    def to_json(self) -> bytes:
        """The stored form: large strings of `messages` that also occur in this turn's input
        items or output are kept once (store/dedup.py)."""
        shrunk = shrink_messages(self.input_items, self.response, self.messages)
        if shrunk is None:
            return orjson.dumps(self)  # orjson reads dataclasses directly (asdict deep-copies)
        return orjson.dumps({f.name: getattr(self, f.name) for f in fields(self)}
                            | {"messages": shrunk, "deduplicated": True})

    @classmethod
    def from_json(cls, raw: bytes | str) -> StoredResponse:
        data = orjson.loads(raw)
        if data.pop("deduplicated", False):
            data["messages"] = restore_messages(data)
        return cls(**data)

    @property
    def status(self) -> str:
        return str(self.response.get("status"))

    def items(self) -> list[dict[str, Any]]:
        """Every item this response received or produced (input items, then output)."""
        output = self.response.get("output")
        return [*self.input_items, *(output if isinstance(output, list) else ())]

    def item_ids(self) -> list[str]:
        return _ids(self.items())

    def index_keys(self) -> list[str]:
        """The item index's keys for this record's items (see `index_key`)."""
        return [index_key(self.owner, item_id) for item_id in self.item_ids()]


@dataclass(slots=True, kw_only=True)
class Conversation:
    """A Conversations API object. Its items are translated for the upstream at use, so a
    conversation can move between providers."""

    id: str
    created_at: int
    metadata: dict[str, str] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    expires_at: float = 0.0
    owner: str = DEFAULT_OWNER

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Conversation:
        return cls(**orjson.loads(raw))

    def item_ids(self) -> list[str]:
        return _ids(self.items)

    def index_keys(self) -> list[str]:
        """The item index's keys for this conversation's items (see `index_key`)."""
        return [index_key(self.owner, item_id) for item_id in self.item_ids()]

    def to_object(self) -> dict[str, Any]:
        return {"id": self.id, "object": "conversation", "created_at": self.created_at,
                "metadata": self.metadata}


# Serialised records at least this large are written off the event loop by backends whose
# writes block. (Serialising itself holds the GIL: a worker thread would not free the loop.)
LARGE_RECORD_BYTES = 1 << 20


def index_key(owner: str, item_id: str) -> str:
    """The item index's key for an item: ids are chosen by clients, so two owners may hold
    the same one, and an index by id alone would let one owner's write displace the other's
    entry (the other's `item_reference` would then be a 404). The default owner keeps bare
    ids, as stored before owners existed."""
    return f"{owner}:{item_id}" if owner else item_id


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items if isinstance(item, dict)
            and isinstance(item.get("id"), str) and item["id"]]


class RecordTooLarge(ValueError):
    """A serialised response or conversation is larger than `max_record_bytes`."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the record is {size} bytes, over the limit of {limit}")
        self.size = size
        self.limit = limit


class ResponseStore(abc.ABC):
    """Where responses, their stream events, cancel requests and conversations live.

    `ttl` bounds how long anything is kept (seconds). Per owner, `max_entries` bounds how
    many responses and conversations are kept and `max_owner_bytes` their serialised size
    (the owner's oldest go first); `max_record_bytes` bounds one serialised response or
    conversation. Every method is safe to call concurrently.
    """

    name = "abstract"
    # The backend's exceptions that mean "cannot reach / write the store right now": shown to
    # clients as 503 store_unavailable rather than as an internal error.
    outage_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, *, ttl: float = 30 * 86400, max_entries: int = 100_000,
                 max_owner_bytes: int = 1 << 30, max_record_bytes: int = 128 << 20) -> None:
        if ttl <= 0 or max_entries <= 0 or max_owner_bytes <= 0 or max_record_bytes <= 0:
            raise ValueError("store ttl, max_entries and byte limits must be positive")
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_owner_bytes = max_owner_bytes
        self.max_record_bytes = min(max_record_bytes, max_owner_bytes)

    def expiry(self) -> float:
        return time.time() + self.ttl

    def _checked_json(self, record: StoredResponse | Conversation) -> bytes:
        """The record serialised; RecordTooLarge beyond `max_record_bytes`."""
        body = record.to_json()
        if len(body) > self.max_record_bytes:
            raise RecordTooLarge(len(body), self.max_record_bytes)
        return body

    # -- reads on behalf of a client: another owner's record is absent --------------------
    async def get_owned(self, response_id: str, owner: str) -> StoredResponse | None:
        record = await self.get(response_id)
        return record if record is not None and record.owner == owner else None

    async def get_conversation_owned(self, conversation_id: str,
                                     owner: str) -> Conversation | None:
        conversation = await self.get_conversation(conversation_id)
        return conversation if conversation is not None and conversation.owner == owner else None

    async def find_items(self, item_ids: list[str], owner: str) -> dict[str, dict[str, Any]]:
        """The stored items with these ids that belong to `owner`, by id (unknown, expired
        and other owners' ids are left out). One index lookup, then one read per record."""
        found: dict[str, dict[str, Any]] = {}
        by_record: dict[str, set[str]] = {}
        keys = {index_key(owner, item_id): item_id for item_id in item_ids}
        for key, record_id in (await self.locate_items(list(keys))).items():
            by_record.setdefault(record_id, set()).add(keys[key])
        for record_id, wanted in by_record.items():
            items: list[dict[str, Any]] = []
            if record_id.startswith(CONVERSATION_PREFIX):
                conversation = await self.get_conversation_owned(record_id, owner)
                items = conversation.items if conversation is not None else []
            else:
                record = await self.get_owned(record_id, owner)
                items = record.items() if record is not None else []
            for item in items:
                if isinstance(item, dict) and item.get("id") in wanted:
                    found.setdefault(item["id"], item)
        return found

    # -- item index -----------------------------------------------------------------------
    @abc.abstractmethod
    async def locate_items(self, item_ids: list[str]) -> dict[str, str]:
        """Index key (`index_key(owner, item id)`) -> id of the response or conversation
        holding the item, for the keys indexed.
        Entries may outlive their record (they are dropped lazily); callers load the record
        and check it still holds the item."""

    # -- responses ----------------------------------------------------------------------
    @abc.abstractmethod
    async def put(self, record: StoredResponse) -> None:
        """Insert or replace a response (its `expires_at` is set by the caller) and index
        its items; then evict the owner's oldest responses beyond the owner's bounds.
        Raises RecordTooLarge (storing nothing) beyond `max_record_bytes`. A backend whose
        write blocks (a local database) writes records of LARGE_RECORD_BYTES or more from a
        worker thread."""

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
        """Insert or replace a conversation, index its items and keep its owner's bounds
        (RecordTooLarge beyond `max_record_bytes`)."""

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
        other replicas, never lose each other's changes), renew its expiry, index new items,
        and return it; None if it does not exist. `edit` must be pure: it may run more than
        once. Raises RecordTooLarge (changing nothing) beyond `max_record_bytes`."""

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
