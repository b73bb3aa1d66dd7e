"""Background runs, in process: a cancellation that lands at the worst moment.

The end-to-end cancel test (tests/e2e/test_replicas.py) could only hit these moments by
chance. Here the upstream and the store are driven step by step, so the cancel lands exactly
while a batch is being appended to the event log, or between two batches: the log the
followers read must still number its events 0..n-1 without a gap, and end once.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web

from responses_gateway.appkeys import runs_key, seal_key, session_key, settings_key, store_key
from responses_gateway.background import start_background
from responses_gateway.config import Settings, Upstream
from responses_gateway.generation import Generation, prepare_generation
from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.store.memory import MemoryStore
from responses_gateway.translate.reasoning import ReasoningSeal

TERMINAL = {"response.completed", "response.incomplete", "response.failed"}


class _SlowLog(MemoryStore):
    """Appending the batch that holds event `hold_at` waits until `release` is set, as a
    Redis round trip would: a cancellation can land in the middle of it."""

    def __init__(self, hold_at: int) -> None:
        super().__init__()
        self.hold_at = hold_at
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def append_events(self, response_id: str, events: list[dict[str, Any]]) -> None:
        if any(e["sequence_number"] == self.hold_at for e in events):
            self.holding.set()
            await self.release.wait()
        await super().append_events(response_id, events)


class _Upstream:
    """Stands in for UpstreamClient: one chunk per item put on `feed` (None ends it)."""

    def __init__(self) -> None:
        self.feed: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.stream_done = False
        self.frames_pending = 0
        self.closed = False

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async def chunks() -> AsyncIterator[dict[str, Any]]:
            try:
                while (chunk := await self.feed.get()) is not None:
                    yield chunk
            finally:
                self.closed = True
        return chunks()


def _text(content: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}


async def _background_run(store: MemoryStore) -> tuple[web.Application, Generation, _Upstream]:
    app = web.Application()
    app[settings_key] = Settings(upstreams=(Upstream.from_url("http://127.0.0.1:9/v1", None),))
    app[store_key] = store
    app[seal_key] = ReasoningSeal(b"k" * 32)
    app[session_key] = aiohttp.ClientSession()
    app[runs_key] = {}
    create = parse_create_request(b'{"model": "m", "input": "hi", "background": true}')
    generation = await prepare_generation(app, create, owner="", stream_upstream=True)
    upstream = _Upstream()
    generation.client = upstream  # type: ignore[assignment]
    await start_background(app, generation)
    return app, generation, upstream


async def _logged(store: MemoryStore, response_id: str) -> list[dict[str, Any]]:
    return await store.events_after(response_id, -1)


def _assert_whole(events: list[dict[str, Any]]) -> None:
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(len(events))), f"sequence numbers with a gap: {numbers}"
    assert [e["type"] in TERMINAL for e in events].count(True) == 1
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "cancelled"


def test_cancel_while_a_batch_is_being_logged_leaves_no_gap() -> None:
    async def scenario() -> None:
        # 0 created, 1 in_progress, 2 item added, 3 part added, 4 first delta, 5 second delta
        store = _SlowLog(hold_at=5)
        app, generation, upstream = await _background_run(store)
        task = app[runs_key][generation.response_id]
        for word in ("one ", "two "):
            upstream.feed.put_nowait(_text(word))
        await asyncio.wait_for(store.holding.wait(), 5)
        await store.request_cancel(generation.response_id)  # as POST .../cancel does
        task.cancel()  # lands inside the append of event 5
        await asyncio.sleep(0.05)
        store.release.set()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        events = await _logged(store, generation.response_id)
        _assert_whole(events)
        assert [e.get("delta") for e in events if e["type"].endswith(".delta")] == [
            "one ", "two "]
        assert (await store.get(generation.response_id)).status == "cancelled"  # type: ignore[union-attr]
        assert upstream.closed
        await app[session_key].close()

    asyncio.run(scenario())


def test_cancel_seen_between_batches_leaves_no_gap() -> None:
    """A cancellation swallowed by a client library is seen through the flag, after the next
    batch was already made: that batch is logged before the end."""
    async def scenario() -> None:
        store = _SlowLog(hold_at=-1)
        app, generation, upstream = await _background_run(store)
        task = app[runs_key][generation.response_id]
        upstream.feed.put_nowait(_text("one "))
        for _ in range(100):
            if len(await _logged(store, generation.response_id)) >= 5:
                break
            await asyncio.sleep(0.01)
        generation.cancel_requested = True  # as the watcher does, its Task.cancel() lost
        upstream.feed.put_nowait(_text("two "))
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        events = await _logged(store, generation.response_id)
        _assert_whole(events)
        assert [e.get("delta") for e in events if e["type"].endswith(".delta")] == [
            "one ", "two "]
        await app[session_key].close()

    asyncio.run(scenario())
