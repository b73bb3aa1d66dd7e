"""A minimal chat-completions upstream for benchmarks: canned answers, no validation, no log.

Run: python bench/fast_upstream.py PORT
"""

from __future__ import annotations

import sys

import orjson
from aiohttp import web

_WORDS = ["Hello", " from", " the", " fast", " upstream", "."] * 5
_COMPLETION = orjson.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "".join(_WORDS)}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": len(_WORDS), "total_tokens": 42},
})
_CHUNKS = b"".join(
    b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                              "created": 0, "model": "bench",
                              "choices": [{"index": 0, "delta": {"content": word},
                                           "finish_reason": None}]}) + b"\n\n"
    for word in _WORDS
) + b"data: " + orjson.dumps({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                              "created": 0, "model": "bench",
                              "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 12, "completion_tokens": 30,
                                        "total_tokens": 42}}) + b"\n\ndata: [DONE]\n\n"


async def chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if not body.get("stream"):
        return web.Response(body=_COMPLETION, content_type="application/json")
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(_CHUNKS)
    await response.write_eof()
    return response


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
