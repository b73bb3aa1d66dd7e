"""Who used how much: usage per key name, model and hour, daily token budgets, and the
latest failed requests, for `GET /v1/usage` and the `/ui` status page.

Requests add to counters in memory (a dict update: nothing on the hot path waits for the
store); a task writes them to the store's usage log every FLUSH_EVERY seconds and at
shutdown. A budget check reads the key's tokens of the UTC day from the store (cached for
FLUSH_EVERY seconds, so replicas see each other's usage within seconds) plus what this
process has not written yet. A request in flight when the budget runs out still finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, AsyncIterator

from aiohttp import web

from .keys import ClientKey
from .protocol.errors import TooManyRequests
from .store.usage import COUNTERS, UsageLog, UsageRow, open_usage_log

__all__ = ["Accounting", "accounting_key", "accounting_lifecycle"]

logger = logging.getLogger(__name__)

FLUSH_EVERY = 2.0
_API_ROUTES = ("/v1/responses", "/responses", "/v1/conversations", "/conversations")


class Accounting:
    """Counters waiting to be written, the failures waiting to be logged, budget checks."""

    def __init__(self, log: UsageLog) -> None:
        self.log = log
        self._pending: dict[tuple[int, str, str], list[int]] = {}
        self._failures: list[dict[str, Any]] = []
        self._today: dict[str, tuple[float, int]] = {}  # key -> (read at, tokens stored)

    # -- recording (called by observe.py) ----------------------------------------------
    def _counts(self, key: str, model: str) -> list[int]:
        slot = (int(time.time() // 3600), key, model)
        counts = self._pending.get(slot)
        if counts is None:
            counts = self._pending[slot] = [0] * len(COUNTERS)
        return counts

    def count_request(self, *, key: str, model: str, route: str, status: int,
                      request_id: str, error: str | None) -> None:
        """One finished API request (other paths, such as /health, are not usage)."""
        if not route.startswith(_API_ROUTES):
            return
        counts = self._counts(key, model)
        counts[0] += 1
        if status >= 400:
            counts[1] += 1
            self._failures.append({"at": time.time(), "request_id": request_id,
                                   "route": route, "status": status,
                                   "error": error or f"http_{status}", "key": key,
                                   "model": model})

    def count_tokens(self, *, key: str, model: str, usage: dict[str, Any]) -> None:
        counts = self._counts(key, model)
        details_in = usage.get("input_tokens_details") or {}
        details_out = usage.get("output_tokens_details") or {}
        for index, value in ((2, usage.get("input_tokens")), (3, usage.get("output_tokens")),
                             (4, details_in.get("cached_tokens")),
                             (5, details_out.get("reasoning_tokens"))):
            if isinstance(value, int) and value > 0:
                counts[index] += value

    # -- writing -------------------------------------------------------------------------
    async def flush(self) -> None:
        if not self._pending and not self._failures:
            return
        pending, failures = self._pending, self._failures
        self._pending, self._failures = {}, []
        rows = [UsageRow(hour, key, model, *counts) for (hour, key, model), counts
                in pending.items()]
        try:
            await self.log.add(rows, failures)
        except Exception:
            # Kept for the next try rather than lost (the store may be back by then).
            for row in rows:
                counts = self._pending.setdefault((row.hour, row.key, row.model),
                                                  [0] * len(COUNTERS))
                for i, value in enumerate(row.counts()):
                    counts[i] += value
            self._failures = failures + self._failures
            raise

    # -- budgets -------------------------------------------------------------------------
    async def check_budget(self, key: ClientKey | None) -> None:
        """429 once the key's input + output tokens of the UTC day reach its budget."""
        if key is None or key.daily_tokens is None:
            return
        used = await self.tokens_today(key.name)
        if used >= key.daily_tokens:
            midnight = (int(time.time()) // 86400 + 1) * 86400
            raise TooManyRequests(
                f"The key '{key.name}' has used {used} of its {key.daily_tokens} tokens for "
                "today (UTC); it can make requests again after midnight UTC.",
                code="daily_token_budget_exceeded",
                retry_after=str(max(1, midnight - int(time.time()))))

    async def tokens_today(self, key: str) -> int:
        now = time.time()
        day_start = int(now // 86400) * 24
        cached = self._today.get(key)
        if cached is None or now - cached[0] > FLUSH_EVERY:
            rows = await self.log.rows(day_start, day_start + 24, key)
            stored = sum(row.input_tokens + row.output_tokens for row in rows)
            cached = self._today[key] = (now, stored)
        local = sum(counts[2] + counts[3] for (hour, name, _), counts in self._pending.items()
                    if name == key and hour >= day_start)
        return cached[1] + local


# Usage per key, model and hour; budgets; the latest failures. (Re-exported by appkeys.)
accounting_key = web.AppKey("responses_gateway.accounting", Accounting)


async def accounting_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the usage log beside the store, flushed periodically and at exit."""
    from .appkeys import settings_key

    accounting = Accounting(open_usage_log(app[settings_key].store_url))
    app[accounting_key] = accounting

    async def flush_periodically() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            try:
                await accounting.flush()
            except Exception as exc:  # the store may be down: keep the counts, say so once
                logger.warning("writing usage to the store failed (kept for the next try): "
                               "%s", type(exc).__name__)

    flusher = asyncio.create_task(flush_periodically())
    yield
    flusher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await flusher
    with contextlib.suppress(Exception):
        await accounting.flush()
    await accounting.log.close()
