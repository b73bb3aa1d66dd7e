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

# Deletes one response's keys and takes it off its owner's index and byte count.
# KEYS: sizes hash, bytes hash. ARGV: key prefix, response id. Returns 1 if it existed.
_FORGET = """
local function record_key(prefix, id)
  if string.sub(id, 1, 5) == 'conv_' then return prefix .. 'conv:' .. id end
  return prefix .. 'resp:' .. id
end

local function forget(prefix, id)
  local deleted = redis.call('DEL', record_key(prefix, id))
  redis.call('DEL', prefix .. 'events:' .. id, prefix .. 'cancel:' .. id)
  local owner = ''
  local meta = redis.call('HGET', KEYS[1], id)
  if meta then
    local size, found = string.match(meta, '^(%d+) (.*)$')
    owner = found
    redis.call('HINCRBY', KEYS[2], owner, 0 - tonumber(size))
    redis.call('HDEL', KEYS[1], id)
  end
  local index = prefix .. 'index'
  if owner ~= '' then index = index .. ':' .. owner end
  redis.call('ZREM', index, id)
  return deleted
end

-- Forget the owner's oldest records (never `keep`) while over either bound.
local function evict(prefix, index, keep, used, count, max_entries, max_bytes)
  while count > 1 and (count > max_entries or used > max_bytes) do
    local oldest = redis.call('ZRANGE', index, 0, 1)
    local victim = oldest[1]
    if victim == keep then victim = oldest[2] end
    if not victim then break end
    local meta = redis.call('HGET', KEYS[1], victim)
    if meta then used = used - tonumber(string.match(meta, '^(%d+)')) end
    forget(prefix, victim)
    redis.call('ZREM', index, victim)  -- also for entries written before sizes were kept
    count = count - 1
  end
  return count
end

-- Count a record of `size` bytes for its owner; `score` orders it in the owner's index.
local function account(prefix, index, id, owner, size, score, nx)
  if nx then redis.call('ZADD', index, 'NX', score, id)
  else redis.call('ZADD', index, score, id) end
  redis.call('SADD', prefix .. 'owners', owner)
  local old = redis.call('HGET', KEYS[1], id)
  local old_size = 0
  if old then old_size = tonumber(string.match(old, '^(%d+)')) end
  redis.call('HSET', KEYS[1], id, size .. ' ' .. owner)
  return redis.call('HINCRBY', KEYS[2], owner, size - old_size)
end
"""

# KEYS: sizes hash, bytes hash, response key, events key, owner's index.
# ARGV: key prefix, id, owner, body, ttl ms (0: expired), now, max entries, max bytes,
# then the ids of the items the response holds. Stores the response, indexes its items, then
# evicts the owner's oldest records (never this one) beyond the owner's bounds.
_PUT = _FORGET + """
local prefix, id, owner, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local size = 0
if ttl > 0 then
  redis.call('SET', KEYS[3], ARGV[4], 'PX', ttl)
  redis.call('PEXPIRE', KEYS[4], ttl)
  size = string.len(ARGV[4])
  for i = 9, #ARGV do redis.call('SET', prefix .. 'item:' .. ARGV[i], id, 'PX', ttl) end
else
  redis.call('DEL', KEYS[3])
end
-- A response keeps its first-write place: replacing it does not make it younger.
local used = account(prefix, KEYS[5], id, owner, size, ARGV[6], true)
return evict(prefix, KEYS[5], id, used, redis.call('ZCARD', KEYS[5]), tonumber(ARGV[7]),
             tonumber(ARGV[8]))
"""

# KEYS: sizes hash, bytes hash, owner's index. ARGV: key prefix, conversation id, owner,
# size, now, max entries, max bytes. Counts a written conversation (as young as its last
# write) and evicts beyond the owner's bounds.
_ACCOUNT = _FORGET + """
local used = account(ARGV[1], KEYS[3], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], false)
return evict(ARGV[1], KEYS[3], ARGV[2], used, redis.call('ZCARD', KEYS[3]),
             tonumber(ARGV[6]), tonumber(ARGV[7]))
"""

# KEYS: sizes hash, bytes hash. ARGV: key prefix, response or conversation id.
_DELETE = _FORGET + "return forget(ARGV[1], ARGV[2])"

# KEYS: sizes hash, bytes hash, an owner's index. ARGV: key prefix, then ids. Forgets index
# members whose record is gone (expired); returns how many responses that was.
_PURGE = _FORGET + """
local removed = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', record_key(ARGV[1], id)) == 0 then
    local dropped = redis.call('ZREM', KEYS[3], id)
    if string.sub(id, 1, 5) ~= 'conv_' then removed = removed + dropped end
    forget(ARGV[1], id)
  end
end
return removed
"""


class RedisStore(ResponseStore):
    """Responses as strings with a TTL, event logs as streams.

    Per owner, `{prefix}index:{owner}` (the default owner's is `{prefix}index`, as before
    owners existed) orders responses by first write; `{prefix}sizes` maps a response id to
    "size owner" and `{prefix}bytes` an owner to its total; `{prefix}owners` lists owners.
    `{prefix}item:{item id}` names the response or conversation holding an item. Every
    record key carries its own expiry, so Redis itself removes expired data;
    `purge_expired` drops index entries (and byte counts) whose response is gone.
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
        self._sizes, self._bytes = f"{prefix}sizes", f"{prefix}bytes"
        self._owners = f"{prefix}owners"
        # No connection is made until the first command, inside the running event loop.
        # Bounded connect and reply times: a Redis that vanished from the network must turn
        # into a clear 503, not a request hanging for minutes (XREAD blocks for at most 1 s).
        self._redis = aioredis.Redis.from_url(url, decode_responses=False,
                                              socket_connect_timeout=5, socket_timeout=30)
        self._append = self._redis.register_script(_APPEND)
        self._put = self._redis.register_script(_PUT)
        self._account = self._redis.register_script(_ACCOUNT)
        self._delete = self._redis.register_script(_DELETE)
        self._purge = self._redis.register_script(_PURGE)
        self._watch_error = WatchError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        self.outage_errors = (RedisConnectionError, RedisTimeoutError)

    def _key(self, kind: str, ident: str) -> str:
        return f"{self.prefix}{kind}:{ident}"

    def _index(self, owner: str) -> str:
        return f"{self.prefix}index:{owner}" if owner else f"{self.prefix}index"

    async def close(self) -> None:
        await self._redis.aclose()

    async def ping(self) -> None:
        await self._redis.ping()

    # -- responses ----------------------------------------------------------------------
    async def put(self, record: StoredResponse) -> None:
        body = self._checked_json(record)
        await self._put(keys=[self._sizes, self._bytes, self._key("resp", record.id),
                              self._key("events", record.id), self._index(record.owner)],
                        args=[self.prefix, record.id, record.owner, body,
                              _remaining_ms(record.expires_at), time.time(), self.max_entries,
                              self.max_owner_bytes, *record.index_keys()])

    async def get(self, response_id: str) -> StoredResponse | None:
        raw = await self._redis.get(self._key("resp", response_id))
        if raw is None:
            return None
        record = StoredResponse.from_json(raw)
        return None if record.expires_at < time.time() else record

    async def delete(self, response_id: str) -> bool:
        deleted = await self._delete(keys=[self._sizes, self._bytes],
                                     args=[self.prefix, response_id])
        return int(deleted) > 0

    async def locate_items(self, item_ids: list[str]) -> dict[str, str]:
        if not item_ids:
            return {}
        found = await self._redis.mget([self._key("item", i) for i in item_ids])
        return {i: _text(c) for i, c in zip(item_ids, found) if c is not None}

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
        body = self._checked_json(conversation)
        async with self._redis.pipeline(transaction=True) as pipe:
            if ttl_ms:
                pipe.set(key, body, px=ttl_ms)
                self._index_items(pipe, conversation.id, conversation.index_keys(), ttl_ms)
            else:
                pipe.delete(key)
            await pipe.execute()
        if ttl_ms:
            await self._account(keys=[self._sizes, self._bytes, self._index(conversation.owner)],
                                args=[self.prefix, conversation.id, conversation.owner,
                                      len(body), time.time(), self.max_entries,
                                      self.max_owner_bytes])

    def _index_items(self, pipe: Any, conversation_id: str, item_ids: list[str],
                     ttl_ms: int) -> None:
        # An item a response also holds stays indexed to the response (nx).
        for item_id in item_ids:
            pipe.set(self._key("item", item_id), conversation_id, px=ttl_ms, nx=True)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        raw = await self._redis.get(self._key("conv", conversation_id))
        if raw is None:
            return None
        conversation = Conversation.from_json(raw)
        return None if conversation.expires_at < time.time() else conversation

    async def delete_conversation(self, conversation_id: str) -> bool:
        deleted = await self._delete(keys=[self._sizes, self._bytes],
                                     args=[self.prefix, conversation_id])
        return int(deleted) > 0

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
                    before = set(conversation.index_keys())
                    edit(conversation)
                    conversation.expires_at = self.expiry()
                    body = self._checked_json(conversation)
                    ttl_ms = _remaining_ms(conversation.expires_at)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, body, px=ttl_ms)
                    self._index_items(pipe, conversation_id, [
                        i for i in conversation.index_keys() if i not in before], ttl_ms)
                    # Counted in the same transaction: the old size is what was read.
                    index = self._index(conversation.owner)
                    pipe.zadd(index, {conversation_id: time.time()})
                    pipe.sadd(self._owners, conversation.owner)
                    pipe.hset(self._sizes, conversation_id,
                              f"{len(body)} {conversation.owner}")
                    pipe.hincrby(self._bytes, conversation.owner, len(body) - len(raw))
                    pipe.zcard(index)
                    *_, used, count = await pipe.execute()
                    break
                except self._watch_error:
                    continue
        if int(count) > self.max_entries or int(used) > self.max_owner_bytes:
            await self._account(keys=[self._sizes, self._bytes, index],
                                args=[self.prefix, conversation_id, conversation.owner,
                                      len(body), time.time(), self.max_entries,
                                      self.max_owner_bytes])
        return conversation

    # -- housekeeping -------------------------------------------------------------------
    async def purge_expired(self) -> int:
        removed = 0
        for raw_owner in await self._redis.smembers(self._owners):
            index = self._index(_text(raw_owner))
            batch: list[bytes] = []
            async for member, _score in self._redis.zscan_iter(index, count=500):
                batch.append(member)
                if len(batch) >= 500:
                    removed += await self._purge_batch(index, batch)
                    batch = []
            if batch:
                removed += await self._purge_batch(index, batch)
        return removed

    async def _purge_batch(self, index: str, ids: list[bytes]) -> int:
        return int(await self._purge(keys=[self._sizes, self._bytes, index],
                                     args=[self.prefix, *ids]))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _remaining_ms(expires_at: float) -> int:
    """Milliseconds until `expires_at` (a Redis expiry), or 0 if that is not in the future."""
    return max(0, int((expires_at - time.time()) * 1000))


def _stream_id(seq: int) -> str:
    """The stream entry id of the event with sequence number `seq` (-1: before all)."""
    return f"{max(seq, -1) + 1}-0"
