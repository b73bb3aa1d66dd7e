"""Redis store: shared by several gateway replicas, survives gateway restarts.

Event logs are Redis Streams whose entry ids are `{sequence_number + 1}-0`, so followers on
any replica block in XREAD for exactly the events they have not seen yet."""

from __future__ import annotations

import time
from typing import Any, Callable

import orjson

from .base import Conversation, ResponseStore, StoredResponse

__all__ = ["RedisStore"]

# KEYS: events stream, response key. ARGV: default ttl ms, then (stream ms, event JSON) pairs.
# Appends in sequence order; an event at or below the last logged one is already there.
_APPEND = """
local top = 0
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then top = tonumber(string.match(last[1][1], '^(%d+)')) end
for i = 2, #ARGV, 2 do
  if tonumber(ARGV[i]) > top then
    redis.call('XADD', KEYS[1], ARGV[i] .. '-0', 'e', ARGV[i + 1])
    top = tonumber(ARGV[i])
  end
end
local ttl = redis.call('PTTL', KEYS[2])
if ttl <= 0 then ttl = tonumber(ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return top
"""

# KEYS: index. ARGV: max entries, key prefix. Pops the oldest beyond the bound, with their keys.
_EVICT = """
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if excess <= 0 then return 0 end
local popped = redis.call('ZPOPMIN', KEYS[1], excess)
for i = 1, #popped, 2 do
  local id = popped[i]
  redis.call('DEL', ARGV[2] .. 'resp:' .. id, ARGV[2] .. 'events:' .. id,
             ARGV[2] .. 'cancel:' .. id)
end
return excess
"""

# KEYS: index. ARGV: key prefix, then ids. Drops index members whose response key is gone.
_PURGE = """
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', ARGV[1] .. 'resp:' .. id) == 0 then
    removed = removed + redis.call('ZREM', KEYS[1], id)
    redis.call('DEL', ARGV[1] .. 'events:' .. id, ARGV[1] .. 'cancel:' .. id)
  end
end
return removed
"""


class RedisStore(ResponseStore):
    """Responses as strings with a TTL, event logs as streams, `{prefix}index` for the bound.

    Every key carries its own expiry, so Redis itself removes expired data; `purge_expired`
    only drops index entries whose response is gone.
    """

    name = "redis"

    def __init__(self, url: str, *, prefix: str = "rg:", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            import redis.asyncio as aioredis
            from redis.exceptions import WatchError
        except ImportError as exc:
            raise RuntimeError("the Redis store needs the redis package: "
                               "pip install 'responses-gateway[redis]'") from exc
        self.url = url
        self.prefix = prefix
        self._index = f"{prefix}index"
        # No connection is made until the first command, inside the running event loop.
        # Bounded connect and reply times: a Redis that vanished from the network must turn
        # into a clear 503, not a request hanging for minutes (XREAD blocks for at most 1 s).
        self._redis = aioredis.Redis.from_url(url, decode_responses=False,
                                              socket_connect_timeout=5, socket_timeout=30)
        self._append = self._redis.register_script(_APPEND)
        self._evict = self._redis.register_script(_EVICT)
        self._purge = self._redis.register_script(_PURGE)
        self._watch_error = WatchError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        self.outage_errors = (RedisConnectionError, RedisTimeoutError)

    def _key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}{kind}:{ident}"

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> None:
        await self._redis.ping()

    # -- responses ----------------------------------------------------------------------
    async def put(self, record: StoredResponse) -> None:
        key, ttl_ms = self._key("resp", record.id), _remaining_ms(record.expires_at)
        async with self._redis.pipeline(transaction=True) as pipe:
            if ttl_ms:
                pipe.set(key, record.to_json(), px=ttl_ms)
                pipe.pexpire(self._key("events", record.id), ttl_ms)
            else:  # already expired: invisible at once; purge_expired counts it
                pipe.delete(key)
            pipe.zadd(self._index, {record.id: time.time()}, nx=True)  # first insert counts
            pipe.zcard(self._index)
            *_, count = await pipe.execute()
        if count > self.max_entries:
            await self._evict(keys=[self._index], args=[self.max_entries, self.prefix])

    async def get(self, response_id: str) -> StoredResponse | None:
        raw = await self._redis.get(self._key("resp", response_id))
        if raw is None:
            return None
        record = StoredResponse.from_json(raw)
        return None if record.expires_at < time.time() else record

    async def delete(self, response_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key("resp", response_id))
            pipe.delete(self._key("events", response_id), self._key("cancel", response_id))
            pipe.zrem(self._index, response_id)
            deleted, *_ = await pipe.execute()
        return int(deleted) > 0

    # -- stream events ------------------------------------------------------------------
    async def append_events(self, response_id: str, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        args: list[Any] = [int(self.ttl * 1000)]
        for event in events:
            args += [int(event["sequence_number"]) + 1, orjson.dumps(event)]
        await self._append(keys=[self._key("events", response_id),
                                 self._key("resp", response_id)], args=args)

    async def events_after(self, response_id: str, after: int) -> list[dict[str, Any]]:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self._redis.xrange(
            self._key("events", response_id), min=_stream_id(after + 1))  # type: ignore[assignment]
        return [orjson.loads(fields[b"e"]) for _, fields in entries]

    async def wait_for_events(self, response_id: str, after: int, timeout: float) -> None:
        # XREAD returns at once if entries past `after` exist, else when one is added.
        await self._redis.xread({self._key("events", response_id): _stream_id(after)},
                                count=1, block=max(1, int(timeout * 1000)))

    # -- cancellation -------------------------------------------------------------------
    async def request_cancel(self, response_id: str) -> None:
        await self._redis.set(self._key("cancel", response_id), b"1", px=int(self.ttl * 1000))

    async def cancel_requested(self, response_id: str) -> bool:
        return bool(await self._redis.exists(self._key("cancel", response_id)))

    # -- conversations ------------------------------------------------------------------
    async def put_conversation(self, conversation: Conversation) -> None:
        key, ttl_ms = self._key("conv", conversation.id), _remaining_ms(conversation.expires_at)
        if ttl_ms:
            await self._redis.set(key, conversation.to_json(), px=ttl_ms)
        else:
            await self._redis.delete(key)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        raw = await self._redis.get(self._key("conv", conversation_id))
        if raw is None:
            return None
        conversation = Conversation.from_json(raw)
        return None if conversation.expires_at < time.time() else conversation

    async def delete_conversation(self, conversation_id: str) -> bool:
        return await self._redis.delete(self._key("conv", conversation_id)) > 0

    async def edit_conversation(self, conversation_id: str,
                                edit: Callable[[Conversation], None]) -> Conversation | None:
        # Optimistic read-modify-write: WATCH makes the write fail if another replica wrote
        # the conversation in between, and then it is tried again.
        key = self._key("conv", conversation_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        return None
                    conversation = Conversation.from_json(raw)
                    if conversation.expires_at < time.time():
                        return None
                    edit(conversation)
                    conversation.expires_at = self.expiry()
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, conversation.to_json(),
                             px=_remaining_ms(conversation.expires_at))
                    await pipe.execute()
                    return conversation
                except self._watch_error:
                    continue

    # -- housekeeping -------------------------------------------------------------------
    async def purge_expired(self) -> int:
        removed = 0
        batch: list[bytes] = []
        async for member, _score in self._redis.zscan_iter(self._index, count=500):
            batch.append(member)
            if len(batch) >= 500:
                removed += await self._purge(keys=[self._index], args=[self.prefix, *batch])
                batch.clear()
        if batch:
            removed += await self._purge(keys=[self._index], args=[self.prefix, *batch])
        return removed


def _remaining_ms(expires_at: float) -> int:
    """Milliseconds until `expires_at` (a Redis expiry), or 0 if that is not in the future."""
    return max(0, int((expires_at - time.time()) * 1000))


def _stream_id(seq: int) -> str:
    """The stream entry id of the event with sequence number `seq` (-1: before all)."""
    return f"{max(seq, -1) + 1}-0"
