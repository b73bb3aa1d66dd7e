"""In-process store: for tests and single-process throwaway runs. Lost on restart."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any, Callable

import orjson

from .base import CONVERSATION_PREFIX, Conversation, ResponseStore, StoredResponse

__all__ = ["MemoryStore"]


class MemoryStore(ResponseStore):
    name = "memory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Records are kept serialised so callers never share objects with the store.
        self._responses: dict[str, bytes] = {}
        self._meta: dict[str, tuple[str, float, list[str]]] = {}  # owner, expiry, item ids
        # Per owner: record ids oldest first (responses by first write, conversations by last
        # write) with their sizes, and the sum.
        self._owned: dict[str, OrderedDict[str, int]] = {}
        self._owned_bytes: dict[str, int] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._cancels: set[str] = set()
        self._conversations: dict[str, Conversation] = {}
        self._items: dict[str, str] = {}  # item id -> response or conversation id
        self._changed = asyncio.Condition()

    async def put(self, record: StoredResponse) -> None:
        body = self._checked_json(record)
        previous = self._meta.get(record.id)
        sizes = self._owned.setdefault(record.owner, OrderedDict())
        if previous is not None and record.id not in sizes:  # moved to another owner
            self._forget_size(previous[0], record.id)
        self._responses[record.id] = body
        self._meta[record.id] = (record.owner, record.expires_at, record.index_keys())
        # A replace keeps its place (eviction goes by first insert) and counts its new size.
        self._count(record.owner, record.id, len(body))
        for item_id in record.index_keys():
            self._items[item_id] = record.id
        await self._bound(record.owner, record.id)

    def _count(self, owner: str, record_id: str, size: int) -> None:
        sizes = self._owned.setdefault(owner, OrderedDict())
        self._owned_bytes[owner] = self._owned_bytes.get(owner, 0) + size - sizes.get(record_id, 0)
        sizes[record_id] = size

    async def _bound(self, owner: str, keep: str) -> None:
        """Remove the owner's oldest records (never `keep`) while over either bound."""
        sizes = self._owned[owner]
        while len(sizes) > 1 and (len(sizes) > self.max_entries
                                  or self._owned_bytes[owner] > self.max_owner_bytes):
            victim = next(i for i in sizes if i != keep)
            if victim.startswith(CONVERSATION_PREFIX):
                await self.delete_conversation(victim)
            else:
                await self.delete(victim)

    def _forget_size(self, owner: str, response_id: str) -> None:
        sizes = self._owned.get(owner)
        size = sizes.pop(response_id, None) if sizes is not None else None
        if size is not None:
            self._owned_bytes[owner] -= size

    async def get(self, response_id: str) -> StoredResponse | None:
        raw = self._responses.get(response_id)
        if raw is None or self._meta[response_id][1] < time.time():
            return None
        return StoredResponse.from_json(raw)

    async def delete(self, response_id: str) -> bool:
        self._events.pop(response_id, None)
        self._cancels.discard(response_id)
        if self._responses.pop(response_id, None) is None:
            return False
        owner, _, item_ids = self._meta.pop(response_id)
        self._forget_size(owner, response_id)
        for item_id in item_ids:
            if self._items.get(item_id) == response_id:
                del self._items[item_id]
        return True

    async def locate_items(self, item_ids: list[str]) -> dict[str, str]:
        return {i: self._items[i] for i in item_ids if i in self._items}

    async def append_events(self, response_id: str, events: list[dict[str, Any]]) -> None:
        log = self._events.setdefault(response_id, [])
        last = log[-1]["sequence_number"] if log else -1
        # Like the other backends: an event at or below the last logged one is not added.
        log.extend(orjson.loads(orjson.dumps([e for e in events if e["sequence_number"] > last])))
        async with self._changed:
            self._changed.notify_all()

    async def events_after(self, response_id: str, after: int) -> list[dict[str, Any]]:
        return [e for e in self._events.get(response_id, ()) if e["sequence_number"] > after]

    async def wait_for_events(self, response_id: str, after: int, timeout: float) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def request_cancel(self, response_id: str) -> None:
        self._cancels.add(response_id)

    async def cancel_requested(self, response_id: str) -> bool:
        return response_id in self._cancels

    async def put_conversation(self, conversation: Conversation) -> None:
        body = self._checked_json(conversation)
        previous = self._conversations.get(conversation.id)
        if previous is not None:
            self._forget_size(previous.owner, conversation.id)
        self._conversations[conversation.id] = Conversation.from_json(body)
        self._count(conversation.owner, conversation.id, len(body))  # now the youngest
        for item_id in conversation.index_keys():
            self._items.setdefault(item_id, conversation.id)
        await self._bound(conversation.owner, conversation.id)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = self._conversations.get(conversation_id)
        if found is None or found.expires_at < time.time():
            return None
        return Conversation.from_json(found.to_json())

    async def delete_conversation(self, conversation_id: str) -> bool:
        found = self._conversations.pop(conversation_id, None)
        if found is None:
            return False
        self._forget_size(found.owner, conversation_id)
        for item_id in found.index_keys():
            if self._items.get(item_id) == conversation_id:
                del self._items[item_id]
        return True

    async def edit_conversation(self, conversation_id: str,
                                edit: Callable[[Conversation], None]) -> Conversation | None:
        found = await self.get_conversation(conversation_id)  # a copy
        if found is None:
            return None
        edit(found)
        found.expires_at = self.expiry()
        await self.put_conversation(found)  # no await in between: atomic in one process
        return found

    async def purge_expired(self) -> int:
        now = time.time()
        expired = [k for k, (_, expires_at, _) in self._meta.items() if expires_at < now]
        for key in expired:
            await self.delete(key)
        for key in [k for k, c in self._conversations.items() if c.expires_at < now]:
            await self.delete_conversation(key)
        for key in [k for k in self._events if k not in self._responses]:
            del self._events[key]  # logged for a response deleted while it ran
        self._cancels &= set(self._responses)
        return len(expired)
