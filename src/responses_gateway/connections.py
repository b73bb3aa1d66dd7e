"""Client connections: how many may be open, and how long one may take to say what it wants.

aiohttp closes a connection that stays idle for `keepalive_timeout`, counted from when it
opened and again after each answer, even one that dribbles a partial request head. This adds
what it lacks: a cap on open connections (beyond it a new connection gets a bare 503 and is
closed, rather than file descriptors running out) and a shorter deadline for the first
request head of a new connection (`--header-timeout`), so that thousands of sockets that
connect and say nothing are gone within seconds. Request bodies have their own deadline
(`--body-timeout`) and size as sent (`--max-compressed-body-bytes`), checked by
`body_middleware` before any handler reads it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from .appkeys import settings_key
from .config import Limits, Timeouts
from .protocol.errors import InvalidRequest

__all__ = ["GuardedRunner", "body_middleware"]

logger = logging.getLogger(__name__)

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s")
_BUSY_BODY = (b'{"error":{"message":"The gateway has too many open connections '
              b'(--max-client-connections); retry shortly.","type":"server_error",'
              b'"param":null,"code":"too_many_connections"}}')
_BUSY_ANSWER = _BUSY % (len(_BUSY_BODY), _BUSY_BODY)
_WARN_EVERY = 10.0  # seconds between "connections refused" log lines
_LINGER = 0.5  # seconds a refused connection is drained before it is closed


class _PlainSpokenHandler(RequestHandler):
    """aiohttp's connection handler, except for requests its HTTP parser refuses (a control
    character in a header, a request line over 8 KiB, ...): aiohttp logs each with a
    traceback at ERROR and answers text/plain that quotes the offending bytes. Any client can
    send those, so a stream of them would flood the log; they get one WARNING line and the
    OpenAI-style 400 the rest of the gateway answers, with nothing of the request echoed."""

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        if status != 400 or not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # Non-HTTP traffic (a TLS hello on the plain port) is routine noise: debug only.
        level = (logging.DEBUG if isinstance(exc, BadHttpMethod) and self._request_count == 1
                 else logging.WARNING)
        logger.log(level, "refused a malformed HTTP request from %s: %s", request.remote,
                   type(exc).__name__)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent on this connection")
        body = InvalidRequest("The request is not valid HTTP (a malformed request line or "
                              f"header: {type(exc).__name__}).",
                              code="malformed_http_request").to_body()
        response = web.json_response(body, status=400)
        response.force_close()
        return response


class _GuardedServer(web.Server):
    """aiohttp's low-level server with the connection cap and the first-head deadline."""

    def __init__(self, *args: Any, max_connections: int, header_timeout: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_connections = max_connections
        self._header_timeout = header_timeout
        self._open = 0
        # Connections that delivered a complete request head (left on connection_lost).
        self._answered: set[RequestHandler] = set()
        self._refused = 0
        self._warned_at = 0.0
        make_request = self.request_factory

        def request_factory(message: Any, payload: Any, protocol: RequestHandler,
                            writer: Any, task: Any) -> web.BaseRequest:
            # A complete request head arrived on this connection.
            self._answered.add(protocol)
            return make_request(message, payload, protocol, writer, task)

        self.request_factory = request_factory

    def __call__(self) -> RequestHandler:
        return _PlainSpokenHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        if self._open >= self._max_connections:
            self._refuse(transport)
            # aiohttp's handler must not touch this connection: it stops at once, and is
            # released once its start task has run (two loop turns: that task is queued
            # after this call returns).
            handler.transport = None
            handler.force_close()
            self._loop.call_soon(self._loop.call_soon, handler.connection_lost, None)
            return
        self._open += 1
        super().connection_made(handler, transport)
        self._loop.call_later(self._header_timeout, self._check_head, handler)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None
                        ) -> None:
        if handler in self._connections:
            self._open -= 1
        self._answered.discard(handler)
        super().connection_lost(handler, exc)

    def _check_head(self, handler: RequestHandler) -> None:
        if handler in self._connections and handler not in self._answered:
            handler.force_close()
            transport = handler.transport
            if transport is not None:
                transport.close()

    def _refuse(self, transport: asyncio.Transport) -> None:
        self._refused += 1
        now = self._loop.time()
        if now - self._warned_at >= _WARN_EVERY:
            logger.warning("refusing connections: %d open is the limit "
                           "(--max-client-connections); %d refused so far",
                           self._max_connections, self._refused)
            self._warned_at = now
        transport.set_protocol(_Refusal(transport, self._loop))


class _Refusal(asyncio.Protocol):
    """Answers 503 and closes, after reading (and dropping) what the client sends for a
    moment: closing a socket with unread data resets it, and the reset could destroy the
    503 before the client reads it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        transport.write(_BUSY_ANSWER)
        if transport.can_write_eof():
            transport.write_eof()
        self._closing = loop.call_later(_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self._closing.cancel()


class GuardedRunner(web.AppRunner):
    """`web.AppRunner` whose server enforces `Limits.max_client_connections`,
    `Timeouts.header` and `Timeouts.keepalive`."""

    def __init__(self, app: web.Application, *, limits: Limits, timeouts: Timeouts,
                 **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=timeouts.keepalive, **kwargs)
        self._guard = (limits.max_client_connections, timeouts.header)

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        max_connections, header_timeout = self._guard
        # The same server aiohttp would make, as the guarded subclass.
        return _GuardedServer(plain.request_handler, request_factory=plain.request_factory,
                              handler_cancellation=plain.handler_cancellation,
                              loop=plain._loop, max_connections=max_connections,
                              header_timeout=header_timeout, **plain._kwargs)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Read a request body up front, within `--body-timeout` and the size limits; handlers'
    `request.read()` then returns it at once. A slow sender gets 408, not a held slot."""
    if request.body_exists:
        settings = request.app[settings_key]
        limit = settings.limits.max_compressed_body_bytes
        length = request.content_length
        if length is not None and length > limit:
            raise _too_large(f"The request body is {length} bytes as sent; the limit is "
                             f"{limit} (--max-compressed-body-bytes).")
        timeout = settings.timeouts.body
        try:
            async with asyncio.timeout(timeout):
                await request.read()  # cached by aiohttp for the handler
        except TimeoutError:
            error = InvalidRequest(f"The request body did not arrive within {timeout:g} s "
                                   "(--body-timeout).", code="body_timeout")
            error.status = 408
            raise error from None
    return await handler(request)


def _too_large(message: str) -> InvalidRequest:
    error = InvalidRequest(message, code="request_too_large")
    error.status = 413
    return error
