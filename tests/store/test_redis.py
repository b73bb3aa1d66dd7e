"""RedisStore beyond the contract: two instances act as two gateway replicas on one Redis,
and the key layout (`rg:` by default, expiries, index) is what operators are told it is."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest

from responses_gateway.store import ResponseStore, StoredResponse
from responses_gateway.store.redis import RedisStore  # imports redis lazily


def _record(rid: str, status: str = "completed", ttl: float = 3600) -> StoredResponse:
    return StoredResponse(id=rid, response={"id": rid, "status": status},
                          messages=[{"role": "user", "content": "hi"}],
                          expires_at=time.time() + ttl)


async def _status(store: ResponseStore, rid: str) -> str | None:
    record = await store.get(rid)
    return None if record is None else record.status


def _event(seq: int, kind: str = "response.output_text.delta") -> dict[str, Any]:
    return {"type": kind, "sequence_number": seq}


def _replicas(url: str, prefix: str, **kwargs: Any) -> tuple[RedisStore, RedisStore]:
    return RedisStore(url, prefix=prefix, **kwargs), RedisStore(url, prefix=prefix, **kwargs)


def test_two_replicas_share_responses_events_and_cancels(redis_url: str,
                                                         redis_prefix: str) -> None:
    async def main() -> None:
        a, b = _replicas(redis_url, redis_prefix)
        try:
            await a.put(_record("resp_1", "in_progress"))
            assert await _status(b, "resp_1") == "in_progress"
            await b.request_cancel("resp_1")
            assert await a.cancel_requested("resp_1") is True
            await a.append_events("resp_1", [_event(0, "response.created")])

            woke: list[float] = []

            async def follow() -> list[int]:
                seen = []
                async for event in b.follow_events("resp_1"):
                    seen.append(event["sequence_number"])
                    woke.append(time.monotonic())
                return seen

            sent: list[float] = []

            async def produce() -> None:
                for seq in (1, 2):
                    await asyncio.sleep(0.2)
                    sent.append(time.monotonic())
                    await a.append_events("resp_1", [_event(seq)])
                await asyncio.sleep(0.2)
                await a.put(_record("resp_1", "cancelled"))
                await a.append_events("resp_1", [_event(3, "response.failed")])

            followed, _ = await asyncio.wait_for(asyncio.gather(follow(), produce()), 10)
            assert followed == [0, 1, 2, 3]
            # XREAD BLOCK wakes B as soon as A appends: no poll interval, no 1 s wait.
            assert max(w - s for w, s in zip(woke[1:3], sent)) < 0.5
            assert await _status(b, "resp_1") == "cancelled"
            assert await b.delete("resp_1") is True
            assert await a.get("resp_1") is None and await a.events_after("resp_1", -1) == []
            assert await a.cancel_requested("resp_1") is False
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_wait_for_events_times_out_and_returns_early(redis_url: str, redis_prefix: str) -> None:
    async def main() -> None:
        a, b = _replicas(redis_url, redis_prefix)
        try:
            started = time.monotonic()
            await b.wait_for_events("resp_1", -1, 0.2)  # nothing yet: waits the timeout
            assert 0.15 < time.monotonic() - started < 1.0
            await a.append_events("resp_1", [_event(0)])
            started = time.monotonic()
            await b.wait_for_events("resp_1", -1, 5)  # already there: returns at once
            await b.wait_for_events("resp_1", -5, 5)
            assert time.monotonic() - started < 0.5
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_key_layout_and_expiries(redis_url: str, redis_prefix: str, redis_admin: Any) -> None:
    async def main() -> None:
        a = RedisStore(redis_url, prefix=redis_prefix, ttl=600)
        try:
            await a.put(_record("resp_1", ttl=300))
            await a.append_events("resp_1", [_event(0), _event(1)])
            await a.append_events("resp_1", [_event(1), _event(0)])  # already logged: ignored
            await a.request_cancel("resp_1")
            assert [e["sequence_number"] for e in await a.events_after("resp_1", -1)] == [0, 1]
        finally:
            await a.close()

    asyncio.run(main())
    key = f"{redis_prefix}{{}}:resp_1".format
    assert redis_admin.type(key("resp")) == b"string"
    assert redis_admin.type(key("events")) == b"stream"
    assert 290_000 < redis_admin.pttl(key("resp")) <= 300_000
    assert 290_000 < redis_admin.pttl(key("events")) <= 300_000  # follows the response
    assert 590_000 < redis_admin.pttl(key("cancel")) <= 600_000  # the store's ttl
    assert [entry_id for entry_id, _ in redis_admin.xrange(key("events"))] == [b"1-0", b"2-0"]
    assert redis_admin.zscore(f"{redis_prefix}index", "resp_1") is not None
    default = RedisStore(redis_url)  # what a gateway uses
    assert default.prefix == "rg:" and default._key("resp", "x") == "rg:resp:x"
    asyncio.run(default.close())


def test_eviction_and_purge_clean_keys(redis_url: str, redis_prefix: str,
                                       redis_admin: Any) -> None:
    async def main() -> int:
        a, b = _replicas(redis_url, redis_prefix, max_entries=2)
        try:
            await a.put(_record("resp_1"))
            await a.append_events("resp_1", [_event(0)])
            await b.put(_record("resp_2"))
            await a.put(_record("resp_3"))  # evicts resp_1 with its events
            await b.put(_record("resp_gone", ttl=0.05))  # evicts resp_2
            await asyncio.sleep(0.1)  # Redis expires resp_gone's key by itself
            return await b.purge_expired()
        finally:
            await a.close()
            await b.close()

    assert asyncio.run(main()) == 1
    gone = [f"{redis_prefix}resp:resp_1", f"{redis_prefix}events:resp_1",
            f"{redis_prefix}resp:resp_2"]
    assert redis_admin.exists(*gone) == 0
    assert redis_admin.zrange(f"{redis_prefix}index", 0, -1) == [b"resp_3"]


def test_missing_redis_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)  # makes the import fail
    with pytest.raises(RuntimeError, match=r"pip install 'responses-gateway\[redis\]'"):
        RedisStore("redis://127.0.0.1:6379/13")


def test_follower_cancelled_mid_xread_leaves_store_usable(redis_url: str,
                                                          redis_prefix: str) -> None:
    async def main() -> None:
        a, b = _replicas(redis_url, redis_prefix)
        try:
            async def follow() -> None:
                async for _ in b.follow_events("resp_1"):
                    pass

            task = asyncio.create_task(follow())  # a client that goes away while waiting
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await a.put(_record("resp_1"))
            assert await _status(b, "resp_1") == "completed"
            await a.append_events("resp_1", [_event(0, "response.completed")])
            assert [e["type"] async for e in b.follow_events("resp_1")] == ["response.completed"]
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())
