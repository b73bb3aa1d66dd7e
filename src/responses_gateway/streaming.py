"""Serving a stream of events over SSE to a client that may leave, from a gateway that may stop.

The state machine (translate/stream.py) only turns chunks into events; what happens around
the wire lives here, at the HTTP edge:

- **keep-alive**: while no event comes (a provider thinking silently, a quiet background
  run), a `: keep-alive` comment goes out every `--sse-keepalive` seconds, so proxies with
  idle timeouts and clients keep the stream open. Comments are legal SSE, ignored by every
  client;
- **a client that leaves** is noticed within `_POLL` seconds even while nothing is being
  written (the connection is checked, not only written to). The event source is closed at
  once, which closes a foreground stream's upstream request, and the response is stored as
  `incomplete` with what was produced;
- **requests that do not stream** are watched the same way (`complete_supervised`): their
  upstream request is closed when the client leaves, and past the shutdown deadline they
  get a 503 `server_shutting_down`;
- **shutdown**: past the deadline (shutdown.py) a foreground stream ends with
  `response.failed` (`server_shutting_down`) and is stored; a follower of a background run
  gets a moment to pass on the run's own end, then its stream ends (the client may resume
  it from another replica).

Response headers wait for the first event, so a provider that refuses at once still gets
the client an HTTP error; if the provider stays silent past the first keep-alive, the
headers go out with it, and a refusal after that ends the stream with `response.failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncGenerator, AsyncIterator, Callable

from aiohttp import web

from .appkeys import settings_key, shutdown_key
from .generation import Generation
from .protocol.errors import GatewayError, ServerShuttingDown, UpstreamError
from .protocol.sse import DONE_FRAME, KEEPALIVE_FRAME, encode_event
from .rendering import SSE_HEADERS
from .shutdown import Shutdown
from .translate.stream import Event

__all__ = ["ClientLeft", "client_gone", "complete_supervised", "send_sse", "supervised"]

logger = logging.getLogger(__name__)

_POLL = 0.25  # seconds between checks that the client is still there
_FOLLOW_GRACE = 1.0  # seconds a follower keeps going after the deadline, for the run's end
_CLOSE_WAIT = 1.0  # seconds to wait for a cancelled event source to close

Batches = AsyncIterator[list[Event]]


class ClientLeft(Exception):
    """The client closed its connection while the stream was going."""


def client_gone(request: web.Request) -> bool:
    """Whether the client's connection is closed (or closing)."""
    transport = request.transport
    return transport is None or transport.is_closing()


async def supervised(batches: Batches, *, shutdown: Shutdown, keepalive: float,
                     left: Callable[[], bool], grace: float = 0.0
                     ) -> AsyncGenerator[list[Event] | None, None]:
    """`batches` as they come, plus None whenever `keepalive` seconds passed without one.

    Raises ClientLeft when `left()` turns true, and ServerShuttingDown `grace` seconds after
    the shutdown deadline, in both cases after closing `batches` (which releases the
    upstream request). The stream counts as busy for the shutdown while it runs; one with a
    grace (a follower) does not hold up the drain before the deadline.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.ensure_future(shutdown.stopping.wait())
    pending: asyncio.Future[list[Event]] | None = None
    last_sent = loop.time()
    stop_at: float | None = None
    try:
        with shutdown.busy(holds_drain=not grace):
            while True:
                pending = asyncio.ensure_future(batches.__anext__())
                while not pending.done():
                    now = loop.time()
                    wake = now + _POLL
                    if keepalive:
                        wake = min(wake, last_sent + keepalive)
                    if stop_at is not None:
                        wake = min(wake, stop_at)
                    await asyncio.wait([pending, stop], timeout=max(0.0, wake - now),
                                       return_when=asyncio.FIRST_COMPLETED)
                    if pending.done():
                        break
                    if left():
                        raise ClientLeft
                    now = loop.time()
                    if stop.done():
                        stop_at = stop_at if stop_at is not None else now + grace
                        if now >= stop_at:
                            raise ServerShuttingDown()
                    if keepalive and now >= last_sent + keepalive:
                        yield None
                        last_sent = loop.time()
                try:
                    batch = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                yield batch
                last_sent = loop.time()
    finally:
        stop.cancel()
        if pending is not None and not pending.done():
            pending.cancel()  # closes the event source where it waits
            # Bounded: a library that swallowed the cancellation must not hold a shutdown.
            await asyncio.wait([pending], timeout=_CLOSE_WAIT)
        with contextlib.suppress(Exception):
            await batches.aclose()  # type: ignore[attr-defined]


async def send_sse(request: web.Request, batches: Batches, *,
                   generation: Generation | None = None) -> web.StreamResponse:
    """Write `batches` as SSE with keep-alives; a foreground stream passes its `generation`
    (ended and stored early if the client leaves or the gateway stops), a follower of a
    background run passes none.

    Raises the UpstreamError of a provider that refused before anything was sent.
    """
    app = request.app
    settings = app[settings_key]
    label = generation.response_id if generation else "a background response"
    response = web.StreamResponse(headers=SSE_HEADERS)
    items = supervised(batches, shutdown=app[shutdown_key], keepalive=settings.sse_keepalive,
                       left=lambda: client_gone(request),
                       grace=0.0 if generation else _FOLLOW_GRACE)
    try:
        tail: list[Event] = []
        if generation is None:
            await response.prepare(request)  # a follower has no refusal to wait for
        try:
            async for item in items:
                await _write(request, response,
                             KEEPALIVE_FRAME if item is None else _frames(item))
        except ServerShuttingDown as exc:
            if generation is None:
                logger.info("stopped following %s: the gateway is shutting down", label)
                await _end(request, response, done=False)
                return response
            logger.warning("ended the stream of %s: the gateway is shutting down", label)
            tail = await generation.interrupt(exc)
        except UpstreamError as exc:
            if generation is None or not response.prepared:
                raise  # nothing sent yet: the client gets an HTTP error
            tail = await generation.interrupt(exc)
        await _end(request, response, done=settings.done_sentinel,
                   data=_frames(tail) if tail else b"")
    except (ClientLeft, ConnectionError):
        # Closing the event source released a foreground stream's upstream request; a
        # background run goes on without its follower.
        await items.aclose()
        logger.info("client left the stream of %s", label)
        if generation is not None:
            await generation.interrupt(None)
    except Exception as exc:
        if isinstance(exc, GatewayError) and not response.prepared:
            raise
        # Headers are sent: an HTTP error can no longer be given, so the stream just ends.
        logger.exception("stream of %s broke", label)
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
    finally:
        await items.aclose()
    return response


async def complete_supervised(request: web.Request, generation: Generation) -> dict[str, Any]:
    """`generation.complete()` for a client that does not stream, watched the same way: if
    the client leaves or the shutdown deadline passes first, the upstream request is closed
    and the response stored (`incomplete`, or `failed`); then ClientLeft, or the 503
    ServerShuttingDown, is raised."""
    shutdown = request.app[shutdown_key]
    work = asyncio.ensure_future(generation.complete())
    stop = asyncio.ensure_future(shutdown.stopping.wait())
    error: GatewayError | None = None
    try:
        with shutdown.busy():
            while True:
                await asyncio.wait([work, stop], timeout=_POLL,
                                       return_when=asyncio.FIRST_COMPLETED)
                if work.done():
                    return work.result()
                if client_gone(request):
                    break
                if stop.done():
                    error = ServerShuttingDown()
                    break
    finally:
        stop.cancel()
        if not work.done():
            work.cancel()
            await asyncio.wait([work], timeout=_CLOSE_WAIT)
    await generation.interrupt(error)
    if error is None:
        logger.info("client left before %s was answered", generation.response_id)
        raise ClientLeft
    logger.warning("abandoned %s: the gateway is shutting down", generation.response_id)
    raise error


async def _write(request: web.Request, response: web.StreamResponse, data: bytes) -> None:
    if not response.prepared:
        await response.prepare(request)
    await response.write(data)


async def _end(request: web.Request, response: web.StreamResponse, *, done: bool,
               data: bytes = b"") -> None:
    """End the stream, with its last events (and [DONE]) in the same write as the end."""
    if done:
        data += DONE_FRAME
    if not response.prepared:
        await response.prepare(request)
    await response.write_eof(data)


def _frames(batch: list[Event]) -> bytes:
    return b"".join([encode_event(event) for event in batch])
