"""generation.py: the events of one network read leave as one batch (one write).

A provider that sends several chunks in one read (a fast model, or a proxy that buffers)
used to cost one batch, one wake-up of the writer and one transport write per chunk.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web

from responses_gateway.appkeys import seal_key, session_key, settings_key, store_key
from responses_gateway.config import Settings, Upstream
from responses_gateway.generation import prepare_generation
from responses_gateway.protocol.errors import UpstreamProtocolError
from responses_gateway.protocol.requests import parse_create_request
from responses_gateway.store.memory import MemoryStore
from responses_gateway.translate.reasoning import ReasoningSeal


class _Reads:
    """Stands in for UpstreamClient: chunks grouped as the network reads that carried them."""

    def __init__(self, reads: list[list[dict[str, Any]]]) -> None:
        self.reads = reads
        self.stream_done = True
        self.frames_pending = 0

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async def chunks() -> AsyncIterator[dict[str, Any]]:
            for read in self.reads:
                for n, chunk in enumerate(read, 1):
                    self.frames_pending = len(read) - n
                    yield chunk
        return chunks()


def _text(content: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}


def _batches(reads: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
    return _run(_Reads(reads))


def _run(client: _Reads) -> list[list[dict[str, Any]]]:
    async def scenario() -> list[list[dict[str, Any]]]:
        app = web.Application()
        app[settings_key] = Settings(upstreams=(Upstream.from_url("http://127.0.0.1:9/v1",
                                                                  None),))
        app[store_key] = MemoryStore()
        app[seal_key] = ReasoningSeal(b"k" * 32)
        async with aiohttp.ClientSession() as session:
            app[session_key] = session
            create = parse_create_request(b'{"model": "m", "input": "hi", "stream": true}')
            generation = await prepare_generation(app, create, owner="", stream_upstream=True)
            generation.client = client  # type: ignore[assignment]
            return [batch async for batch in generation.events()]
    return asyncio.run(scenario())


def _deltas(batch: list[dict[str, Any]]) -> list[str]:
    return [e["delta"] for e in batch if e["type"] == "response.output_text.delta"]


def test_the_chunks_of_one_read_are_one_batch() -> None:
    batches = _batches([[_text("a"), _text("b"), _text("c")], [_text("d", "stop")]])
    # start; the first chunk (read before the response is announced); the rest of the
    # first read; the second read; the terminal events.
    assert len(batches) == 5
    assert _deltas(batches[2]) == ["b", "c"]
    assert batches[-1][-1]["type"] == "response.completed"
    assert batches[-1][-1]["response"]["output"][0]["content"][0]["text"] == "abcd"


def test_a_stream_that_ends_inside_a_read_still_sends_what_it_held() -> None:
    class _DoneInside(_Reads):
        async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
            async def chunks() -> AsyncIterator[dict[str, Any]]:
                self.frames_pending = 3  # a, b, c and [DONE] came in one read
                for chunk in (_text("a"), _text("b"), _text("c", "stop")):
                    yield chunk
                    self.frames_pending -= 1
            return chunks()

    batches = _run(_DoneInside([]))
    assert [d for b in batches for d in _deltas(b)] == ["a", "b", "c"]
    assert batches[-1][-1]["type"] == "response.completed"


def test_held_events_go_out_before_a_failure() -> None:
    class _Cut(_Reads):
        async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
            async def chunks() -> AsyncIterator[dict[str, Any]]:
                self.frames_pending = 2
                yield _text("a")
                yield _text("b")  # a third frame of this read follows, and is bad
                raise UpstreamProtocolError("bad frame")
            return chunks()

    batches = _run(_Cut([]))
    assert [d for b in batches for d in _deltas(b)] == ["a", "b"]
    assert batches[-1][-1]["type"] == "response.failed"
