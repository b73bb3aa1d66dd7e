"""Request handlers: parse, translate, call upstream, feed the stream, write frames."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, AsyncIterator

import orjson
from aiohttp import web

from .appkeys import session_key, settings_key
from .protocol.errors import GatewayError, InvalidRequest, UpstreamError
from .protocol.requests import CreateRequest, parse_create_request
from .protocol.sse import DONE_FRAME, encode_event
from .translate.response import new_response
from .translate.stream import Event, ResponseStream
from .translate.to_chat import to_chat_request
from .upstream import UpstreamClient

__all__ = ["create_response", "error_response", "health", "json_response", "list_models", "new_id"]

logger = logging.getLogger(__name__)

_SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # keep reverse proxies from buffering the stream
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{os.urandom(12).hex()}"


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def create_response(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses."""
    settings = request.app[settings_key]
    create = parse_create_request(await request.read())
    _reject_stateful(create)
    upstream = settings.upstream
    chat = to_chat_request(create, upstream.profile,
                           reject_unsupported_tools=settings.unsupported_tools == "error")
    if chat.dropped_tools:
        logger.warning("dropped hosted tools the upstream cannot run: %s",
                       ", ".join(chat.dropped_tools))
    machine = ResponseStream(
        new_response(create, response_id=new_id("resp"), created_at=int(time.time()),
                     tools_echo=chat.tools_echo),
        tool_map=chat.tool_map, new_id=new_id)
    client = UpstreamClient(request.app[session_key], upstream, settings.timeouts)
    if not create.stream:
        completion = await client.complete(chat.body)
        machine.feed(completion)
        machine.finish(completed_at=int(time.time()))
        return json_response(machine.snapshot())
    # Open the upstream first: a refusal before the first byte is an HTTP error, as with
    # OpenAI itself, not a stream that fails at once.
    chunks = await client.stream(chat.body)
    return await _write_stream(request, machine, chunks, done_sentinel=settings.done_sentinel)


async def _write_stream(request: web.Request, machine: ResponseStream,
                        chunks: AsyncIterator[dict[str, Any]], *,
                        done_sentinel: bool) -> web.StreamResponse:
    response = web.StreamResponse(headers=_SSE_HEADERS)
    try:
        await response.prepare(request)
        await response.write(_frames(machine.start()))
        try:
            async for chunk in chunks:
                events = machine.feed(chunk)
                if events:
                    await response.write(_frames(events))
            tail = machine.finish(completed_at=int(time.time()))
        except UpstreamError as exc:
            logger.warning("upstream failed mid-stream for %s: %s", machine.response_id,
                           exc.message)
            tail = machine.fail(exc)
        await response.write(_frames(tail) + (DONE_FRAME if done_sentinel else b""))
        await response.write_eof()
    except (ConnectionResetError, ConnectionError):
        # The client went away; closing `chunks` below releases the upstream connection.
        logger.info("client disconnected from %s", machine.response_id)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    return response


def _frames(events: list[Event]) -> bytes:
    return b"".join([encode_event(event) for event in events])


def _reject_stateful(create: CreateRequest) -> None:
    """Stateful features need the response store, which this build does not have yet."""
    for key in ("previous_response_id", "conversation"):
        if create.body.get(key):
            raise InvalidRequest(f"'{key}' needs the response store, which is off on this "
                                 "gateway; send the whole conversation in 'input' instead.",
                                 param=key, code="store_disabled")
    if create.background:
        raise InvalidRequest("'background' needs the response store, which is off on this "
                             "gateway.", param="background", code="store_disabled")


async def list_models(request: web.Request) -> web.Response:
    """GET /v1/models: the provider's own list."""
    settings = request.app[settings_key]
    client = UpstreamClient(request.app[session_key], settings.upstream, settings.timeouts)
    return json_response(await client.list_models())


async def health(request: web.Request) -> web.Response:
    """GET /health: liveness; says which upstream is configured (never its key)."""
    upstream = request.app[settings_key].upstream
    return json_response({"status": "ok", "upstream": upstream.base_url,
                          "profile": upstream.profile.name})


def error_response(error: GatewayError) -> web.Response:
    response = json_response(error.to_body(), status=error.status)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response

