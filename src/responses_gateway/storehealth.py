"""Whether the response store can be used, for /health and before a response is made.

A stored response whose store is down would be generated (and billed) and then lost, with a
traceback in the log. Instead, a request that must store is refused with 503
`store_unavailable` before the provider is asked. To keep that cheap, the store is pinged at
most once per `_FRESH` seconds however many requests arrive; concurrent requests share the
ping in flight. A store call that fails with an outage error anywhere becomes the same 503
(see `outage_of`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from .protocol.errors import StoreUnavailable
from .store import ResponseStore

__all__ = ["StoreHealth", "log_store_failure", "outage_of", "store_health_key"]

logger = logging.getLogger(__name__)

_FRESH = 1.0  # seconds a successful ping vouches for the store
_PING_TIMEOUT = 2.0


class StoreHealth:
    __slots__ = ("_checked_ok", "_inflight", "store")

    def __init__(self, store: ResponseStore) -> None:
        self.store = store
        self._checked_ok = 0.0  # monotonic time of the last successful ping
        self._inflight: asyncio.Future[str | None] | None = None

    async def problem(self, *, fresh: bool = False) -> str | None:
        """None when the store answers, else what is wrong (without secrets: the error's
        type and text, never the store URL)."""
        if not fresh and time.monotonic() - self._checked_ok < _FRESH:
            return None
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._ping())
            self._inflight.add_done_callback(self._clear)
        return await asyncio.shield(self._inflight)

    def _clear(self, _: object) -> None:
        self._inflight = None

    async def _ping(self) -> str | None:
        try:
            async with asyncio.timeout(_PING_TIMEOUT):
                await self.store.ping()
        except TimeoutError:
            self._checked_ok = 0.0
            return f"the {self.store.name} store did not answer within {_PING_TIMEOUT:g} s"
        except self.store.outage_errors as exc:
            self._checked_ok = 0.0
            return f"the {self.store.name} store is unreachable: {_describe(exc)}"
        self._checked_ok = time.monotonic()
        return None

    async def require(self) -> None:
        """Raise StoreUnavailable (503) unless the store answers."""
        problem = await self.problem()
        if problem is not None:
            raise StoreUnavailable(f"Cannot store the response: {problem}. Retry later, or "
                                   "send store=false.")


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def outage_of(app: web.Application, exc: BaseException) -> StoreUnavailable | None:
    """The 503 for a store outage raised anywhere in a handler, else None."""
    health = app.get(store_health_key)
    if health is None or not isinstance(exc, health.store.outage_errors):
        return None
    health._checked_ok = 0.0  # the next request pings again
    return StoreUnavailable(f"The {health.store.name} store is unavailable "
                            f"({_describe(exc)}); retry later.")


def log_store_failure(store: ResponseStore | None, response_id: str,
                      exc: BaseException) -> None:
    """Log a failed save of a response already sent: an outage in one line (the store went
    away after the last ping), anything else with its traceback."""
    if store is not None and isinstance(exc, store.outage_errors):
        logger.warning("storing %s failed: the %s store is unavailable (%s)", response_id,
                       store.name, _describe(exc))
    else:
        logger.error("storing %s failed", response_id, exc_info=exc)


store_health_key = web.AppKey("responses_gateway.store_health", StoreHealth)
