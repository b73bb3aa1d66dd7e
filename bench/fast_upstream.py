"""A minimal chat-completions upstream for benchmarks: canned answers, no validation, no log.

Run: python bench/fast_upstream.py PORT

A stream is 20 content chunks and a final chunk with usage, written at once. The model name
"bench-slow" spaces the chunks 50 ms apart instead (the long run's slow streams).
"""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiohttp import web

CHUNKS_PER_STREAM = 20
SLOW_MODEL = "bench-slow"
SLOW_CHUNK_INTERVAL_S = 0.05
_WORDS = (["Hello", " from", " the", " fast", " upstream"] * 4)[:CHUNKS_PER_STREAM]
_COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "".join(_WORDS)}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": len(_WORDS), "total_tokens": 32},
})
_FRAMES = [
    b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                              "created": 0, "model": "bench",
                              "choices": [{"index": 0, "delta": {"content": word},
                                           "finish_reason": None}]}) + b"\n\n"
    for word in _WORDS
] + [b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                               "created": 0, "model": "bench",
                               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 12, "completion_tokens": 20,
                                         "total_tokens": 32}}) + b"\n\ndata: [DONE]\n\n"]
_CHUNKS = b"".join(_FRAMES)


async def chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if not body.get("stream"):
        return web.Response(body=_COMPLETION, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    if body.get("model") == SLOW_MODEL:
        for frame in _FRAMES:
            await asyncio.sleep(SLOW_CHUNK_INTERVAL_S)
            await response.write(frame)
    else:
        await response.write(_CHUNKS)
    await response.write_eof()
    return response


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [
        {"id": "bench", "object": "model", "created": 0, "owned_by": "bench"}]})


def main() -> None:
    try:  # the gateway runs on uvloop too: compare like with like
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
