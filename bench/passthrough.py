"""The limit for Python here: an aiohttp proxy that forwards bytes without translating.

Run: python bench/passthrough.py PORT UPSTREAM_URL   (e.g. http://127.0.0.1:8001)

It does what any proxy in the path must do (accept the request, open the upstream request on
a pooled connection, copy the answer back, streamed as it arrives) and nothing else: no
parsing, no validation, no store. The gateway's figures are compared against it.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
from aiohttp import web

_UPSTREAM = web.AppKey("upstream", str)
_SESSION = web.AppKey("session", aiohttp.ClientSession)


async def forward(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    session = request.app[_SESSION]
    async with session.post(request.app[_UPSTREAM] + request.path, data=body,
                            headers={"Content-Type": "application/json"}) as upstream:
        if upstream.content_type != "text/event-stream":
            return web.Response(body=await upstream.read(), status=upstream.status,
                                content_type=upstream.content_type)
        response = web.StreamResponse(status=upstream.status,
                                      headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        async for data in upstream.content.iter_any():
            await response.write(data)
        await response.write_eof()
        return response


async def _session(app: web.Application):  # type: ignore[no-untyped-def]
    connector = aiohttp.TCPConnector(limit=0)
    app[_SESSION] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    yield
    await app[_SESSION].close()


def main() -> None:
    try:  # the gateway runs on uvloop too: compare like with like
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    app = web.Application()
    app[_UPSTREAM] = sys.argv[2].rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_post("/v1/chat/completions", forward)
    app.router.add_get("/health", lambda _: web.Response(text="ok"))  # type: ignore[arg-type,return-value]
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
