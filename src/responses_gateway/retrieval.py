"""Views over stored responses: retrieve (or replay a stream), delete, input items, cancel."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, AsyncIterator

from aiohttp import web

from .admission import claim_stream
from .appkeys import require_store, runs_key
from .leases import lease_expired, mark_dead
from .protocol.errors import InvalidRequest, NotFound
from .protocol.queries import parse_list_query, parse_replay_query
from .store import ResponseStore, StoredResponse
from .store.base import TERMINAL_EVENTS
from .rendering import json_response, list_page
from .streaming import send_sse
from .tenancy import owner_of

logger = logging.getLogger(__name__)

__all__ = ["cancel_response", "delete_response", "get_response", "list_input_items"]

_CANCEL_WAIT = 10.0  # seconds to wait for the runner to settle a cancelled response
_RECHECK = 1.0  # seconds without events after which a replay checks on the run


async def _record(request: web.Request) -> StoredResponse:
    """The response named in the path, if it belongs to the caller (else 404)."""
    store = require_store(request.app, "Stored responses")
    response_id = request.match_info["response_id"]
    record = await store.get_owned(response_id, owner_of(request))
    if record is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id",
                       code="response_not_found")
    if lease_expired(record):
        record = await mark_dead(store, record)
    return record


async def get_response(request: web.Request) -> web.StreamResponse:
    """GET /v1/responses/{id}; with ?stream=true, replay (and follow) its events."""
    stream, after = parse_replay_query(request.query)
    record = await _record(request)
    if not stream:
        return json_response(record.response)
    if not record.response.get("background"):
        raise InvalidRequest("Only background responses can be streamed again; this one was "
                             "not created with background=true.", param="stream",
                             code="invalid_value")
    claim_stream(request)
    store = require_store(request.app, "Stored responses")
    return await send_sse(request, _replay(store, record, after))


async def _replay(store: ResponseStore, record: StoredResponse,
                  after: int) -> AsyncIterator[list[dict[str, Any]]]:
    """Logged events after `after`, then live ones until the terminal event (written by
    streaming.send_sse, which also stops it when the client leaves)."""
    if record.status not in ("queued", "in_progress"):
        events = await store.events_after(record.id, after)
        if events:
            yield events
        return
    while True:
        async for event in store.follow_events(record.id, after, idle_timeout=_RECHECK):
            after = event["sequence_number"]
            yield [event]
            if event["type"] in TERMINAL_EVENTS:
                return
        # Quiet for a while: has the run settled, or died?
        current = await store.get(record.id)
        if current is None:
            return
        if lease_expired(current):
            await mark_dead(store, current)  # logs a terminal event, sent next round
        elif current.status not in ("queued", "in_progress"):
            events = await store.events_after(record.id, after)
            if events:
                yield events
            return


async def delete_response(request: web.Request) -> web.Response:
    """DELETE /v1/responses/{id}."""
    store = require_store(request.app, "Stored responses")
    record = await _record(request)
    response_id = record.id
    if not await store.delete(response_id):
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id",
                       code="response_not_found")
    if record.status in ("queued", "in_progress"):
        # Stop the run wherever it is (the flag outlives the record); the runner sees the
        # record gone and does not store it again.
        await store.request_cancel(response_id)
        task = request.app[runs_key].get(response_id)
        if task is not None:
            task.cancel()
    return json_response({"id": response_id, "object": "response.deleted", "deleted": True})


async def list_input_items(request: web.Request) -> web.Response:
    """GET /v1/responses/{id}/input_items (after, limit, order)."""
    parse_list_query(request.query)  # a bad query is a 400 before the lookup
    record = await _record(request)
    return json_response(list_page(request, record.input_items))


async def cancel_response(request: web.Request) -> web.Response:
    """POST /v1/responses/{id}/cancel: works from any replica."""
    store = require_store(request.app, "Stored responses")
    record = await _record(request)
    if not record.response.get("background"):
        raise InvalidRequest("Only background responses can be cancelled.",
                             param="response_id", code="invalid_value")
    if record.status not in ("queued", "in_progress"):
        return json_response(record.response)
    await store.request_cancel(record.id)
    task = request.app[runs_key].get(record.id)
    if task is not None:
        task.cancel()
    deadline = time.monotonic() + _CANCEL_WAIT
    while time.monotonic() < deadline:
        current = await store.get(record.id)
        if current is None:
            break
        if current.status not in ("queued", "in_progress"):
            return json_response(current.response)
        if lease_expired(current):
            break
        await asyncio.sleep(0.05)
    # Nobody is running it (or it did not stop in time): settle it here.
    current = await store.get(record.id) or record
    settled = await mark_dead(store, current, status="cancelled")
    return json_response(settled.response)

