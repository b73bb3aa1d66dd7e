"""The ResponseStore contract, run against every backend: memory, sqlite (a tmp file), redis
(the test database) and postgres (a schema of the session's database). Each test is a sync function driving one asyncio.run()."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from responses_gateway.store import Conversation, ResponseStore, StoredResponse, open_store

StoreFactory = Callable[..., ResponseStore]  # the `make_store` fixture (conftest.py)


def _record(rid: str, *, status: str = "completed", expires_at: float | None = None,
            **extra: Any) -> StoredResponse:
    fields: dict[str, Any] = {
        "input_items": [{"id": "msg_1", "type": "message", "role": "user",
                         "content": [{"type": "input_text", "text": "hi ✓"}]}],
        "messages": [{"role": "user", "content": "hi ✓"}, {"role": "assistant", "content": "yo"}],
        "upstream": "mock", **extra}
    return StoredResponse(
        id=rid, response={"id": rid, "object": "response", "status": status, "output": []},
        expires_at=time.time() + 3600 if expires_at is None else expires_at, **fields)


def _event(seq: int, kind: str = "response.output_text.delta") -> dict[str, Any]:
    return {"type": kind, "sequence_number": seq, "delta": f"d{seq}"}


def _run(make_store: StoreFactory, body: Any, **kwargs: Any) -> None:
    """Open a store, run `body(store)`, always close it."""
    async def main() -> None:
        store = make_store(**kwargs)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def test_put_get_round_trip(make_store: StoreFactory) -> None:
    record = _record("resp_1", lease_until=123.5)

    async def body(store: ResponseStore) -> None:
        await store.put(record)
        got = await store.get("resp_1")
        assert got == record
        assert got is not record and got.status == "completed"

    _run(make_store, body)


def test_get_unknown_is_none(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        assert await store.get("resp_nope") is None

    _run(make_store, body)


def test_replace_keeps_latest_data(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_record("resp_1", status="in_progress"))
        final = _record("resp_1", status="completed", messages=[])
        await store.put(final)
        assert await store.get("resp_1") == final

    _run(make_store, body)


def test_delete_removes_record_events_and_cancel(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_record("resp_1"))
        await store.append_events("resp_1", [_event(0), _event(1)])
        await store.request_cancel("resp_1")
        assert await store.delete("resp_1") is True
        assert await store.get("resp_1") is None
        assert await store.events_after("resp_1", -1) == []
        assert await store.cancel_requested("resp_1") is False
        assert await store.delete("resp_1") is False

    _run(make_store, body)


def test_expired_record_is_invisible_and_purged(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_record("resp_old", expires_at=time.time() - 1))
        await store.put(_record("resp_live"))
        assert await store.get("resp_old") is None
        assert await store.purge_expired() == 1
        assert await store.purge_expired() == 0
        assert await store.get("resp_old") is None
        assert await store.get("resp_live") is not None

    _run(make_store, body)


def test_tiny_ttl_expires(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_record("resp_1", expires_at=store.expiry()))
        await store.put_conversation(Conversation(id="conv_1", created_at=1,
                                                  expires_at=store.expiry()))
        assert await store.get("resp_1") is not None
        await asyncio.sleep(0.6)
        assert await store.get("resp_1") is None
        assert await store.get_conversation("conv_1") is None
        assert await store.purge_expired() == 1
        assert await store.get("resp_1") is None

    _run(make_store, body, ttl=0.5)


def test_max_entries_evicts_oldest(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        for n in range(5):
            await store.put(_record(f"resp_{n}"))
            await store.append_events(f"resp_{n}", [_event(0)])
        for n in (0, 1):
            assert await store.get(f"resp_{n}") is None
            assert await store.events_after(f"resp_{n}", -1) == []
        for n in (2, 3, 4):
            assert await store.get(f"resp_{n}") is not None
            assert len(await store.events_after(f"resp_{n}", -1)) == 1

    _run(make_store, body, max_entries=3)


def test_replace_keeps_first_insert_order(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        for n in range(3):
            await store.put(_record(f"resp_{n}"))
        await store.put(_record("resp_0", status="failed"))  # replace the oldest
        await store.put(_record("resp_3"))
        assert await store.get("resp_0") is None
        assert [await store.get(f"resp_{n}") is not None for n in (1, 2, 3)] == [True] * 3

    _run(make_store, body, max_entries=3)


def test_events_in_order_after_filter(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_record("resp_1"))
        await store.append_events("resp_1", [_event(0, "response.created"), _event(1)])
        await store.append_events("resp_1", [])
        await store.append_events("resp_1", [_event(2), _event(3), _event(4)])
        all_events = await store.events_after("resp_1", -1)
        assert [e["sequence_number"] for e in all_events] == [0, 1, 2, 3, 4]
        assert all_events[0] == _event(0, "response.created")
        assert [e["sequence_number"] for e in await store.events_after("resp_1", 2)] == [3, 4]
        assert await store.events_after("resp_1", 4) == []
        assert await store.events_after("resp_unknown", -1) == []

    _run(make_store, body)


def test_follow_yields_logged_then_live_until_terminal(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_record("resp_1", status="in_progress"))
        await store.append_events("resp_1", [_event(0, "response.created"), _event(1)])

        async def follow(after: int) -> list[int]:
            return [e["sequence_number"] async for e in store.follow_events("resp_1", after)]

        async def produce() -> None:
            await asyncio.sleep(0.1)
            await store.append_events("resp_1", [_event(2)])
            await asyncio.sleep(0.1)
            await store.append_events("resp_1", [_event(3, "response.completed"), _event(4)])

        followed, resumed, _ = await asyncio.wait_for(
            asyncio.gather(follow(-1), follow(1), produce()), timeout=10)
        assert followed == [0, 1, 2, 3]
        assert resumed == [2, 3]
        # A finished log replays at once and stops at the terminal event.
        assert await asyncio.wait_for(follow(-1), timeout=5) == [0, 1, 2, 3]

    _run(make_store, body)


def test_follow_stops_when_idle(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.append_events("resp_1", [_event(0, "response.created")])
        got = [e async for e in store.follow_events("resp_1", idle_timeout=0.2)]
        assert [e["sequence_number"] for e in got] == [0]

    _run(make_store, body)


def test_cancel_flag(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_record("resp_1", status="in_progress"))
        assert await store.cancel_requested("resp_1") is False
        await store.request_cancel("resp_1")
        await store.request_cancel("resp_1")
        assert await store.cancel_requested("resp_1") is True
        assert await store.cancel_requested("resp_2") is False

    _run(make_store, body)


def test_conversations(make_store: StoreFactory) -> None:
    conversation = Conversation(
        id="conv_1", created_at=1700000000, metadata={"topic": "x"},
        items=[{"id": "msg_1", "type": "message", "role": "user", "content": []}],
        expires_at=time.time() + 3600)

    async def body(store: ResponseStore) -> None:
        assert await store.get_conversation("conv_1") is None
        await store.put_conversation(conversation)
        assert await store.get_conversation("conv_1") == conversation
        changed = Conversation(id="conv_1", created_at=1700000000, metadata={"topic": "y"},
                               expires_at=conversation.expires_at)
        await store.put_conversation(changed)
        assert await store.get_conversation("conv_1") == changed
        await store.put_conversation(Conversation(id="conv_old", created_at=1,
                                                  expires_at=time.time() - 1))
        assert await store.get_conversation("conv_old") is None
        assert await store.delete_conversation("conv_1") is True
        assert await store.get_conversation("conv_1") is None
        assert await store.delete_conversation("conv_1") is False

    _run(make_store, body)


# -- open_store -------------------------------------------------------------------------
def _close(store: ResponseStore | None) -> None:
    if store is not None:
        asyncio.run(store.close())


def test_open_store_memory_and_none() -> None:
    from responses_gateway.store.memory import MemoryStore

    store = open_store("memory", ttl=5, max_entries=7)
    assert isinstance(store, MemoryStore) and (store.ttl, store.max_entries) == (5, 7)
    for url in ("none", "off", ""):
        assert open_store(url) is None


def test_open_store_sqlite(tmp_path: Path) -> None:
    from responses_gateway.store.sqlite import SqliteStore

    path = tmp_path / "a" / "b.db"
    store = open_store(f"sqlite://{path}", max_entries=9)
    try:
        assert isinstance(store, SqliteStore) and store.path == str(path)
        assert store.max_entries == 9
    finally:
        _close(store)
    memory_db = open_store("sqlite:")
    assert isinstance(memory_db, SqliteStore) and memory_db.path == ":memory:"
    _close(memory_db)


def test_open_store_redis() -> None:
    pytest.importorskip("redis", reason="the redis package is not installed")
    from responses_gateway.store.redis import RedisStore

    for url in ("redis://127.0.0.1:6379/13", "unix:///tmp/redis.sock?db=13"):
        store = open_store(url, ttl=60)
        try:
            assert isinstance(store, RedisStore) and store.ttl == 60
        finally:
            _close(store)


def test_open_store_postgres() -> None:
    pytest.importorskip("asyncpg", reason="asyncpg is not installed")
    from responses_gateway.store.postgres import PostgresStore

    for url in ("postgresql://u@127.0.0.1:5432/db", "postgres://u@h/db?schema=rg"):
        store = open_store(url, ttl=60)
        assert isinstance(store, PostgresStore) and store.ttl == 60
        _close(store)


@pytest.mark.parametrize("url", ["mysql://y", "sqlite", "file:///tmp/x", "postgresx://z"])
def test_open_store_unknown_url(url: str) -> None:
    with pytest.raises(ValueError, match="unknown store URL"):
        open_store(url)


@pytest.mark.parametrize("kwargs", [{"ttl": 0}, {"max_entries": 0}])
def test_bounds_must_be_positive(make_store: StoreFactory, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="positive"):
        make_store(**kwargs)


def test_concurrent_conversation_appends_keep_every_item(make_store: Any) -> None:
    async def main() -> None:
        store = make_store()
        try:
            await store.put_conversation(Conversation(id="conv_1", created_at=1, items=[],
                                                      expires_at=store.expiry()))
            await asyncio.gather(*(
                store.append_conversation_items("conv_1", [{"id": f"i{n}", "type": "message"}])
                for n in range(20)))
            found = await store.get_conversation("conv_1")
            assert found is not None
            assert sorted(item["id"] for item in found.items) == sorted(f"i{n}" for n in range(20))
            assert await store.append_conversation_items("conv_missing", [{"id": "x"}]) is False
        finally:
            await store.close()

    asyncio.run(main())


# -- tenancy: owners, per-owner bounds, record size, the item index ------------------------
def _owned(rid: str, owner: str, *, pad: int = 0, **extra: Any) -> StoredResponse:
    record = _record(rid, **extra)
    record.owner = owner
    record.response["output"] = [{"id": f"out_{rid}", "type": "message", "role": "assistant",
                                  "content": [{"type": "output_text", "text": "x" * pad}]}]
    record.input_items = [{"id": f"in_{rid}", "type": "message", "role": "user",
                           "content": [{"type": "input_text", "text": "hi"}]}]
    return record


def test_owner_round_trips_and_gates_reads(make_store: StoreFactory) -> None:
    conversation = Conversation(id="conv_a", created_at=1, owner="alice",
                                items=[{"id": "ci_1", "type": "message", "role": "user"}],
                                expires_at=time.time() + 3600)

    async def body(store: ResponseStore) -> None:
        await store.put(_owned("resp_a", "alice"))
        await store.put_conversation(conversation)
        assert (await store.get("resp_a")).owner == "alice"  # type: ignore[union-attr]
        assert await store.get_owned("resp_a", "alice") is not None
        assert await store.get_owned("resp_a", "bob") is None
        assert await store.get_owned("resp_a", "") is None
        assert await store.get_conversation_owned("conv_a", "alice") == conversation
        assert await store.get_conversation_owned("conv_a", "bob") is None

    _run(make_store, body)


def test_records_without_owner_belong_to_the_default_owner() -> None:
    old = StoredResponse.from_json(b'{"id": "resp_1", "response": {}, "expires_at": 1.0}')
    assert old.owner == ""
    assert Conversation.from_json(b'{"id": "conv_1", "created_at": 1}').owner == ""


def test_max_entries_is_per_owner(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_owned("resp_a0", "alice"))
        await store.put(_owned("resp_a1", "alice"))
        for n in range(5):  # bob fills his quota many times over
            await store.put(_owned(f"resp_b{n}", "bob"))
        assert await store.get("resp_a0") is not None
        assert await store.get("resp_a1") is not None
        assert [await store.get(f"resp_b{n}") is not None for n in range(5)] == \
            [False, False, False, True, True]
        await store.put(_owned("resp_a2", "alice"))
        assert await store.get("resp_a0") is None  # alice's own oldest goes
        assert await store.get("resp_b4") is not None

    _run(make_store, body, max_entries=2)


def test_owner_bytes_evict_only_that_owners_oldest(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_owned("resp_a0", "alice", pad=3000))
        for n in range(4):  # each ~3.5 KB: bob keeps at most two under 8 KB
            await store.put(_owned(f"resp_b{n}", "bob", pad=3000))
        assert await store.get("resp_a0") is not None
        assert [await store.get(f"resp_b{n}") is not None for n in range(4)] == \
            [False, False, True, True]
        # A replace counts its new size, not both.
        await store.put(_owned("resp_b3", "bob", pad=3000, status="failed"))
        assert await store.get("resp_b2") is not None
        # Deleting gives the bytes back.
        assert await store.delete("resp_b2")
        await store.put(_owned("resp_b4", "bob", pad=3000))
        assert await store.get("resp_b3") is not None

    _run(make_store, body, max_owner_bytes=8000)


def test_record_over_the_size_limit_is_refused(make_store: StoreFactory) -> None:
    from responses_gateway.store import RecordTooLarge

    async def body(store: ResponseStore) -> None:
        with pytest.raises(RecordTooLarge) as raised:
            await store.put(_owned("resp_big", "alice", pad=5000))
        assert raised.value.limit == 4000 and raised.value.size > 5000
        assert await store.get("resp_big") is None
        conversation = Conversation(id="conv_1", created_at=1, expires_at=time.time() + 60)
        await store.put_conversation(conversation)
        with pytest.raises(RecordTooLarge):
            await store.append_conversation_items(
                "conv_1", [{"id": "m", "type": "message", "content": "y" * 5000}])
        assert (await store.get_conversation("conv_1")).items == []  # type: ignore[union-attr]

    _run(make_store, body, max_record_bytes=4000)


def test_item_index_finds_items_of_responses_and_conversations(
        make_store: StoreFactory) -> None:
    conversation = Conversation(id="conv_1", created_at=1, owner="alice",
                                items=[{"id": "ci_1", "type": "message", "role": "user"}],
                                expires_at=time.time() + 3600)

    async def body(store: ResponseStore) -> None:
        await store.put(_owned("resp_a", "alice"))
        await store.put(_owned("resp_b", "bob"))
        await store.put_conversation(conversation)
        await store.append_conversation_items("conv_1", [{"id": "ci_2", "type": "message"}])
        found = await store.find_items(["in_resp_a", "out_resp_a", "ci_1", "ci_2",
                                        "out_resp_b", "nope"], "alice")
        assert sorted(found) == ["ci_1", "ci_2", "in_resp_a", "out_resp_a"]
        assert found["out_resp_a"]["role"] == "assistant"
        assert found["in_resp_a"]["content"][0]["text"] == "hi"
        assert list(await store.find_items(["out_resp_b"], "bob")) == ["out_resp_b"]
        assert await store.find_items([], "alice") == {}
        # Items go with their record.
        assert await store.delete("resp_a")
        assert await store.delete_conversation("conv_1")
        assert await store.find_items(["in_resp_a", "out_resp_a", "ci_1", "ci_2"],
                                      "alice") == {}

    _run(make_store, body)


def test_an_item_id_another_owner_reuses_does_not_displace_yours(
        make_store: StoreFactory) -> None:
    """Item ids are chosen by clients: bob storing an item with alice's id must leave
    alice's `item_reference` working (an index by id alone made hers a 404)."""
    def holding(rid: str, owner: str, text: str) -> StoredResponse:
        record = _owned(rid, owner)
        record.input_items = [{"id": "msg_shared", "type": "message", "role": "user",
                               "content": [{"type": "input_text", "text": text}]}]
        return record

    async def body(store: ResponseStore) -> None:
        await store.put(holding("resp_a", "alice", "alice's"))
        await store.put(holding("resp_b", "bob", "bob's"))
        await store.put_conversation(Conversation(
            id="conv_b", created_at=1, owner="bob", expires_at=time.time() + 3600,
            items=[{"id": "ci_shared", "type": "message", "role": "user"}]))
        await store.put_conversation(Conversation(
            id="conv_a", created_at=1, owner="alice", expires_at=time.time() + 3600,
            items=[{"id": "ci_shared", "type": "message", "role": "user", "content": "a"}]))
        for owner, text in (("alice", "alice's"), ("bob", "bob's")):
            found = await store.find_items(["msg_shared", "ci_shared"], owner)
            assert found["msg_shared"]["content"][0]["text"] == text, owner
            assert "ci_shared" in found, owner
        assert await store.find_items(["msg_shared"], "carol") == {}

    _run(make_store, body)


def test_item_index_follows_eviction_and_expiry(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_owned("resp_0", "alice"))
        await store.put(_owned("resp_1", "alice"))  # evicts resp_0
        await store.put(_owned("resp_old", "alice", expires_at=time.time() - 1))
        assert await store.find_items(["out_resp_0", "out_resp_old"], "alice") == {}
        assert list(await store.find_items(["out_resp_1"], "alice")) == ["out_resp_1"]
        await store.purge_expired()
        assert list(await store.find_items(["out_resp_1"], "alice")) == ["out_resp_1"]

    _run(make_store, body, max_entries=2)



def _conversation(cid: str, owner: str, *, pad: int = 0) -> Conversation:
    return Conversation(id=cid, created_at=1, owner=owner, expires_at=time.time() + 3600,
                        items=[{"id": f"i_{cid}", "type": "message", "content": "z" * pad}])


def test_conversations_count_toward_their_owners_bounds(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put_conversation(_conversation("conv_a", "alice"))
        await store.put(_owned("resp_a0", "alice"))
        await store.put(_owned("resp_a1", "alice"))  # three records: the oldest goes
        assert await store.get_conversation("conv_a") is None
        await store.put_conversation(_conversation("conv_b", "alice"))
        assert await store.get("resp_a0") is None
        # Writing to a conversation makes it the youngest.
        await store.append_conversation_items("conv_b", [{"id": "i_new", "type": "message"}])
        await store.put(_owned("resp_a2", "alice"))
        assert await store.get("resp_a1") is None
        assert await store.get_conversation("conv_b") is not None
        # Another owner's conversations never make room for alice.
        for n in range(3):
            await store.put_conversation(_conversation(f"conv_bob{n}", "bob"))
        assert await store.get_conversation("conv_b") is not None
        assert await store.get("resp_a2") is not None
        # A deleted conversation gives its place back.
        assert await store.delete_conversation("conv_b")
        await store.put(_owned("resp_a3", "alice"))
        assert await store.get("resp_a2") is not None

    _run(make_store, body, max_entries=2)


def test_conversation_bytes_evict_the_owners_oldest(make_store: StoreFactory) -> None:
    async def body(store: ResponseStore) -> None:
        await store.put(_owned("resp_a0", "alice", pad=3000))
        await store.put(_owned("resp_b0", "bob", pad=3000))
        await store.put_conversation(_conversation("conv_a", "alice", pad=3000))
        assert await store.get("resp_a0") is not None
        await store.append_conversation_items(
            "conv_a", [{"id": "i_more", "type": "message", "content": "z" * 3000}])
        assert await store.get("resp_a0") is None  # alice over 8 KB: her oldest goes
        assert await store.get("resp_b0") is not None
        assert await store.get_conversation("conv_a") is not None

    _run(make_store, body, max_owner_bytes=8000)
