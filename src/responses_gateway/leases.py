"""Leases of background runs: how a response whose runner died is recognised and settled.

A running background response carries `lease_until`, renewed by its runner (background.py).
Whoever reads a queued / in-progress response with a lapsed lease settles it, so a crash
never leaves a response `in_progress` forever.
"""

from __future__ import annotations

import time

from .store import ResponseStore, StoredResponse
from .store.base import TERMINAL_EVENTS

__all__ = ["lease_expired", "mark_dead"]


def lease_expired(record: StoredResponse) -> bool:
    """A queued / in-progress response whose runner stopped renewing its lease."""
    return (record.status in ("queued", "in_progress") and record.lease_until is not None
            and record.lease_until < time.time())


async def mark_dead(store: ResponseStore, record: StoredResponse, *,
                    status: str = "failed") -> StoredResponse:
    """Settle a response whose runner died (crash, restart): `failed` (or `cancelled`)."""
    record.response["status"] = status
    if status == "failed":
        record.response["error"] = {
            "code": "server_error",
            "message": "The gateway process running this response stopped before it finished.",
        }
    record.lease_until = None
    await store.put(record)
    # Close the event log too, so a client resuming the stream sees it end.
    logged = await store.events_after(record.id, -1)
    if not logged or logged[-1]["type"] not in TERMINAL_EVENTS:
        sequence = logged[-1]["sequence_number"] + 1 if logged else 0
        await store.append_events(record.id, [{"type": "response.failed",
                                               "sequence_number": sequence,
                                               "response": record.response}])
    return record
