"""In-process store: for tests and single-process throwaway runs. Lost on restart."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any, Callable

import orjson

from .base import Conversation, ResponseStore, StoredResponse

__all__ = ["MemoryStore"]


class MemoryStore(ResponseStore):
    name = "memory"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._responses: OrderedDict[str, StoredResponse] = OrderedDict()
        # Records are kept serialised so callers never share objects with the store.
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._cancels: set[str] = set()
        self._conversations: dict[str, Conversation] = {}
        self._changed = asyncio.Condition()

    async def put(self, record: StoredResponse) -> None:
        self._responses[record.id] = StoredResponse.from_json(record.to_json())
        while len(self._responses) > self.max_entries:
            oldest, _ = self._responses.popitem(last=False)
            self._events.pop(oldest, None)

    async def get(self, response_id: str) -> StoredResponse | None:
        record = self._responses.get(response_id)
        if record is None or record.expires_at < time.time():
            return None
        return StoredResponse.from_json(record.to_json())

    async def delete(self, response_id: str) -> bool:
        self._events.pop(response_id, None)
        self._cancels.discard(response_id)
        return self._responses.pop(response_id, None) is not None

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
        self._conversations[conversation.id] = Conversation.from_json(conversation.to_json())

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = self._conversations.get(conversation_id)
        if found is None or found.expires_at < time.time():
            return None
        return Conversation.from_json(found.to_json())

    async def delete_conversation(self, conversation_id: str) -> bool:
        return self._conversations.pop(conversation_id, None) is not None

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
        expired = [k for k, r in self._responses.items() if r.expires_at < now]
        for key in expired:
            await self.delete(key)
        for key in [k for k, c in self._conversations.items() if c.expires_at < now]:
            del self._conversations[key]
        for key in [k for k in self._events if k not in self._responses]:
            del self._events[key]  # logged for a response deleted while it ran
        self._cancels &= set(self._responses)
        return len(expired)
