"""Background responses: runs that outlive their request, can be polled, resumed, cancelled.

Each run is a tracked task of this process (`runs_key`). At shutdown it may finish until the
deadline (shutdown.py), then it is cancelled and settles as failed (`server_shutting_down`).
Events go to the store's event log, so any replica can replay or follow them. A watcher
refreshes the run's lease (so a crashed run is recognised as dead rather than shown as
`in_progress` forever) and turns a cancel request, possibly made on another replica, into
task cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import AsyncIterator, Callable

from aiohttp import web

from .appkeys import runs_key, settings_key
from .generation import Generation
from .protocol.errors import GatewayError, ServerShuttingDown, UpstreamError
from .store import ResponseStore, StoredResponse
from .translate.stream import Event, Phase

__all__ = ["start_background", "track_runs"]

logger = logging.getLogger(__name__)

_CANCEL_POLL = 0.2  # seconds between checks for a cancel request


async def track_runs(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the registry of this process's background runs."""
    runs: dict[str, asyncio.Task[None]] = {}
    app[runs_key] = runs
    yield
    for task in list(runs.values()):
        task.cancel()
    if runs:
        await asyncio.gather(*runs.values(), return_exceptions=True)


async def start_background(app: web.Application, generation: Generation,
                           on_end: Callable[[], None] | None = None) -> StoredResponse:
    """Store the queued response and start its run; returns the queued record. `on_end` is
    called when the run has ended (it releases the run's admission slot)."""
    store = generation.store
    assert store is not None
    lease = app[settings_key].run_lease
    record = generation.stored_record(lease_until=time.time() + lease)
    await store.put(record)
    runs = app[runs_key]
    task = asyncio.create_task(_run(generation, store, lease), name=f"background {record.id}")
    runs[record.id] = task
    task.add_done_callback(lambda _: runs.pop(record.id, None))
    if on_end is not None:
        task.add_done_callback(lambda _: on_end())
    return record


async def _run(generation: Generation, store: ResponseStore, lease: float) -> None:
    runner = asyncio.current_task()
    assert runner is not None
    watcher = asyncio.create_task(_watch(generation, store, runner, lease))
    # Events the machine made that may not be in the log yet. The machine has numbered them,
    # so an end stored without them would leave a gap in the sequence numbers followers see
    # (a cancel that lands while a batch is being appended, or between two batches). Logging
    # is idempotent by sequence number, so they are simply appended again before the end.
    unlogged: list[Event] = []
    try:
        try:
            first = True
            async for batch in generation.events():
                unlogged = batch
                if generation.cancel_requested:
                    raise asyncio.CancelledError
                # Polling clients see the run start and each finished item.
                if first or any(e["type"] == "response.output_item.done" for e in batch):
                    await generation.checkpoint(lease_until=time.time() + lease)
                    first = False
                await store.append_events(generation.response_id, batch)
                unlogged = []
        except UpstreamError as exc:  # refused before the first chunk
            await _end(generation, store, generation.machine.fail(exc))
        except asyncio.CancelledError:
            generation.settling = True
            settle = asyncio.ensure_future(_settle(generation, store, unlogged))
            while not settle.done():
                # Storing the end must finish even if more cancellations arrive (the cancel
                # endpoint and the watcher may both have asked): absorb them meanwhile.
                try:
                    await asyncio.shield(settle)
                except asyncio.CancelledError:
                    continue
            if not settle.result():
                raise
    except Exception:
        logger.exception("background run %s crashed", generation.response_id)
        if generation.machine.phase is not Phase.DONE:
            events = generation.machine.fail(GatewayError("The background run failed."))
            await _end(generation, store, [*unlogged, *events])
    finally:
        watcher.cancel()


async def _settle(generation: Generation, store: ResponseStore,
                  unlogged: list[Event]) -> bool:
    """Store how a cancelled run ended, after the events not logged yet; returns whether a
    cancel was requested (rather than a shutdown)."""
    requested = (generation.cancel_requested
                 or await store.cancel_requested(generation.response_id))
    if generation.machine.phase is not Phase.DONE:
        error = _Cancelled() if requested else ServerShuttingDown()
        await _end(generation, store, [*unlogged, *generation.machine.fail(
            error, status="cancelled" if requested else "failed")])
    elif generation.tail is not None:
        # It had finished when the cancel landed (while storing its end): it stays
        # finished, and its end is stored now.
        await _end(generation, store, [*unlogged, *generation.tail])
    return requested


async def _end(generation: Generation, store: ResponseStore, events: list[Event]) -> None:
    await generation.persist()
    # In order and once each: the unlogged batch may be the terminal one itself.
    by_number = {event["sequence_number"]: event for event in events}
    await store.append_events(generation.response_id,
                              [by_number[n] for n in sorted(by_number)])


async def _watch(generation: Generation, store: ResponseStore, runner: asyncio.Task[None],
                 lease: float) -> None:
    """Renew the run's lease and turn a cancel request (from any replica) into cancellation."""
    renew_every = lease / 3
    renew_at = time.monotonic() + renew_every
    while generation.machine.phase is not Phase.DONE and not generation.settling:
        await asyncio.sleep(_CANCEL_POLL)
        try:
            if (generation.cancel_requested
                    or await store.cancel_requested(generation.response_id)):
                # Repeated until the run reacts: a client library may swallow a cancellation.
                generation.cancel_requested = True
                runner.cancel()
                continue
            if time.monotonic() >= renew_at:
                await generation.checkpoint(lease_until=time.time() + lease)
                renew_at = time.monotonic() + renew_every
        except Exception:  # a store hiccup must not stop the lease renewals for good
            logger.exception("watching background run %s failed; retrying",
                             generation.response_id)


class _Cancelled(GatewayError):
    """The client cancelled a background response."""

    def __init__(self) -> None:
        super().__init__("The response was cancelled.", code="cancelled")
