"""WebSocket mode on `GET /v1/responses`: `response.create` messages in, the same events out.

One turn runs at a time per connection. Each event goes out as one text message, exactly
as its SSE `data:`. Turns with `store: false` are remembered by the connection only, so a
later turn on the same socket can continue them with `previous_response_id`; a continuation
that fails forgets its parent (Open Responses' cache-eviction rule).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from .admission import claim_stream
from .appkeys import shutdown_key
from .generation import prepare_generation
from .protocol.bodies import check_depth
from .protocol.errors import GatewayError, InvalidRequest, ServerShuttingDown
from .protocol.reasoning_events import raw_reasoning_events
from .protocol.requests import validate_create_request
from .store import StoredResponse
from .tenancy import owner_of
from .storehealth import outage_of, store_health_key
from .streaming import ClientLeft, client_gone, supervised

__all__ = ["responses_websocket"]

logger = logging.getLogger(__name__)

_MAX_MESSAGE = 64 * 1024 * 1024
_HTTP_ONLY_FIELDS = ("stream", "stream_options", "background")
_LOCAL_LIMIT = 64  # store:false turns a connection remembers


async def responses_websocket(request: web.Request) -> web.StreamResponse:
    """GET /v1/responses with an Upgrade: websocket header."""
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=_MAX_MESSAGE)
    if not ws.can_prepare(request).ok:
        # A plain GET: over HTTP, responses are created with POST.
        raise web.HTTPMethodNotAllowed("GET", ["POST"])
    claim_stream(request)  # a WebSocket is an open stream for the key's limit
    await ws.prepare(request)
    local: dict[str, StoredResponse] = {}
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            await _turn(request, ws, message.data, local)
        elif message.type is aiohttp.WSMsgType.BINARY:
            await _send_error(ws, InvalidRequest("Send JSON text messages, not binary ones."))
        elif message.type is aiohttp.WSMsgType.ERROR:
            logger.info("websocket closed with an error: %s", ws.exception())
    return ws


async def _turn(request: web.Request, ws: web.WebSocketResponse, data: str,
                local: dict[str, StoredResponse]) -> None:
    parent = None
    try:
        body = _create_body(data)
        parent = body.get("previous_response_id")
        create = validate_create_request({**body, "stream": True})
        # Chosen once for the connection, on the upgrade request.
        raw_reasoning = raw_reasoning_events(request.headers)
        health = request.app.get(store_health_key)
        if create.store and health is not None:
            await health.require()
        generation = await prepare_generation(request.app, create, owner=owner_of(request),
                                              request_bytes=len(data), local=local,
                                              raw_reasoning=raw_reasoning)
        failed = False
        # No keep-alives (WebSocket pings do that); a client that leaves or a shutdown past
        # its deadline ends the turn early, as for SSE (streaming.py).
        turn = supervised(generation.events(), shutdown=request.app[shutdown_key],
                          keepalive=0.0, left=lambda: ws.closed or client_gone(request))
        try:
            async for batch in turn:
                for event in batch or ():
                    failed = failed or event["type"] == "response.failed"
                    await ws.send_str(orjson.dumps(event).decode())
        except ServerShuttingDown as exc:
            failed = True
            for event in await generation.interrupt(exc):
                await ws.send_str(orjson.dumps(event).decode())
        except (ClientLeft, ConnectionError):
            await turn.aclose()
            await generation.interrupt(None)
            return
        finally:
            await turn.aclose()
        if failed and parent:
            local.pop(parent, None)
        elif not failed:
            _remember(local, generation.stored_record())
    except GatewayError as exc:
        if parent:
            local.pop(parent, None)
        await _send_error(ws, exc)
    except Exception as exc:  # the connection stays usable for the next turn
        if parent:
            local.pop(parent, None)
        outage = outage_of(request.app, exc)
        if outage is None:
            logger.exception("websocket turn failed")
        if not ws.closed:
            await _send_error(ws, outage or GatewayError("The gateway hit an internal error."))


def _create_body(data: str) -> dict[str, Any]:
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The message is not valid JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("type") != "response.create":
        raise InvalidRequest("Expected a {\"type\": \"response.create\", ...} message.",
                             param="type", code="invalid_value")
    check_depth(message)
    for key in _HTTP_ONLY_FIELDS:
        if key in message:
            raise InvalidRequest(f"'{key}' is not used in WebSocket mode.", param=key,
                                 code="invalid_value")
    return {k: v for k, v in message.items() if k != "type"}


def _remember(local: dict[str, StoredResponse], record: StoredResponse) -> None:
    local[record.id] = record
    while len(local) > _LOCAL_LIMIT:
        local.pop(next(iter(local)))


async def _send_error(ws: web.WebSocketResponse, error: GatewayError) -> None:
    body = error.to_body()["error"]
    body["code"] = body.get("code") or error.type
    await ws.send_str(orjson.dumps({"type": "error", "status": error.status,
                                    "error": body}).decode())
