"""Per-key admission: how many requests and streams one client key may have at once.

Without it, one client opening a thousand never-ending streams (or background runs) holds
the whole upstream pool and everyone else waits. A request that makes work (a POST other
than cancel, a WebSocket) holds a request slot while it is served; a background run takes
over its request's slot and keeps it until the run ends. Any SSE stream (a resumed one too)
or WebSocket also holds a stream slot. Reads, deletes and cancels are not counted, so a key
at its limit can still poll and cancel its runs. Beyond a limit the answer is 429 with
`Retry-After`, naming the limit.

The bucket is the matched client key (by its name) when the gateway requires keys. Without configured
keys any key is accepted, so a client could mint a fresh one per request: then everyone
shares one bucket (one tenant, as the store sees it too). Counts are per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from .appkeys import settings_key
from .config import Limits
from .protocol.errors import TooManyRequests

__all__ = ["Admission", "admission_key", "admission_middleware", "claim_stream",
           "keep_for_background"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths that are never counted (load balancers poll them).
_UNCOUNTED = frozenset({"/health", "/healthz"})
_RETRY_AFTER = "1"
_SHARED = "*"  # the bucket when the gateway requires no key


@dataclass(slots=True)
class Ticket:
    """What one request (or background run) holds; released once."""

    bucket: str
    request: bool = True
    stream: bool = False


class Admission:
    """Counters per bucket. Plain dict arithmetic: one event loop, no locks needed."""

    __slots__ = ("_limits", "_requests", "_streams")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._requests: dict[str, int] = {}
        self._streams: dict[str, int] = {}

    def admit(self, bucket: str, *, counted: bool = True) -> Ticket:
        if not counted:
            return Ticket(bucket, request=False)
        held = self._requests.get(bucket, 0)
        limit = self._limits.max_requests_per_key
        if held >= limit:
            raise TooManyRequests(
                f"Too many concurrent requests for this API key: the limit is {limit} "
                "(--max-requests-per-key), background runs included. Retry when one ends.",
                code="concurrent_requests_limit", retry_after=_RETRY_AFTER)
        self._requests[bucket] = held + 1
        return Ticket(bucket)

    def open_stream(self, ticket: Ticket) -> None:
        if ticket.stream:
            return
        held = self._streams.get(ticket.bucket, 0)
        limit = self._limits.max_streams_per_key
        if held >= limit:
            raise TooManyRequests(
                f"Too many open streams for this API key: the limit is {limit} "
                "(--max-streams-per-key), SSE streams and WebSockets together. Retry when one "
                "ends.", code="concurrent_streams_limit", retry_after=_RETRY_AFTER)
        self._streams[ticket.bucket] = held + 1
        ticket.stream = True

    def release(self, ticket: Ticket) -> None:
        if ticket.request:
            ticket.request = False
            _decrement(self._requests, ticket.bucket)
        if ticket.stream:
            ticket.stream = False
            _decrement(self._streams, ticket.bucket)

    def held(self, bucket: str) -> tuple[int, int]:
        """(requests, streams) a bucket holds now; for tests and diagnostics."""
        return self._requests.get(bucket, 0), self._streams.get(bucket, 0)


def _decrement(counts: dict[str, int], bucket: str) -> None:
    left = counts.get(bucket, 0) - 1
    if left > 0:
        counts[bucket] = left
    else:
        counts.pop(bucket, None)


admission_key = web.AppKey("responses_gateway.admission", Admission)
_ticket_key = web.RequestKey("responses_gateway.ticket", Ticket)


@web.middleware
async def admission_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _UNCOUNTED:
        return await handler(request)
    admission = request.app[admission_key]
    counted = (request.method == "POST" and not request.path.endswith("/cancel")) \
        or "Upgrade" in request.headers
    ticket = admission.admit(_bucket(request), counted=counted)
    request[_ticket_key] = ticket
    try:
        return await handler(request)
    finally:
        admission.release(ticket)


def _bucket(request: web.Request) -> str:
    """The name the auth middleware gave the matched key (names are unique; never the key
    itself), or the shared bucket when the gateway has no keys."""
    if not request.app[settings_key].api_keys:
        return _SHARED
    return str(request.get("rg.key_name", _SHARED))


def claim_stream(request: web.Request) -> None:
    """Count this request as an open stream too (429 beyond the key's limit). Call it before
    the upstream is asked, so a refused stream costs nothing."""
    ticket = request.get(_ticket_key)
    if ticket is not None:
        request.app[admission_key].open_stream(ticket)


def keep_for_background(request: web.Request) -> Callable[[], None]:
    """Hand this request's slot to a background run: the run holds it until it ends, and
    the request no longer releases it. Returns the (idempotent) release."""
    ticket = request.get(_ticket_key)
    if ticket is None:
        return lambda: None
    admission = request.app[admission_key]
    kept = Ticket(ticket.bucket, request=ticket.request)  # the stream slot stays here
    ticket.request = False
    return lambda: admission.release(kept)
