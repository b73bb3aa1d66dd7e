"""Request handlers for creating responses, listing models and health."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from .appkeys import session_key, settings_key, slots_key, store_key
from .admission import claim_stream, keep_for_background
from .background import start_background
from .generation import prepare_generation
from .keys import current_key
from .protocol.errors import UpstreamError
from .protocol.reasoning_events import raw_reasoning_events
from .protocol.requests import parse_create_request
from .rendering import json_response
from .tenancy import owner_of
from .storehealth import store_health_key
from .streaming import ClientLeft, complete_supervised, send_sse
from .upstream import UpstreamClient

__all__ = ["create_response", "health", "list_models"]

logger = logging.getLogger(__name__)


async def create_response(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses: JSON or SSE (chosen by the body's `stream`), or a background run."""
    raw = await request.read()
    create = parse_create_request(raw)
    raw_reasoning = raw_reasoning_events(request.headers)
    if create.stream:
        claim_stream(request)
    await _require_store(request, create.store or create.background)
    generation = await prepare_generation(request.app, create, owner=owner_of(request),
                                          request_bytes=len(raw),
                                          stream_upstream=True if create.background else None,
                                          raw_reasoning=raw_reasoning)
    if create.background:
        release = keep_for_background(request)  # the run counts against the key's limit
        try:
            record = await start_background(request.app, generation, on_end=release)
        except BaseException:
            release()
            raise
        if not create.stream:
            return json_response(record.response)
        return await send_sse(request, _follow(request.app[store_key], record.id))
    if not create.stream:
        try:
            return json_response(await complete_supervised(request, generation))
        except ClientLeft:
            return web.Response(status=499)  # nobody reads it: nginx's "client closed"
    return await send_sse(request, generation.events(), generation=generation)


async def _require_store(request: web.Request, needed: bool) -> None:
    """Refuse (503) before the provider is asked if the response cannot be stored."""
    health = request.app.get(store_health_key)
    if needed and health is not None:
        await health.require()


async def _follow(store: Any, response_id: str) -> Any:
    async for event in store.follow_events(response_id, -1):
        yield [event]


async def list_models(request: web.Request) -> web.Response:
    """GET /v1/models: the union of the upstreams' lists (plus configured aliases)."""
    settings = request.app[settings_key]
    session = request.app[session_key]
    lists = await asyncio.gather(
        *(UpstreamClient(session, u, settings.timeouts, request.app.get(slots_key))
          .list_models() for u in settings.upstreams), return_exceptions=True)
    data: list[dict[str, Any]] = []
    seen: set[str] = set()
    for upstream, result in zip(settings.upstreams, lists):
        if isinstance(result, BaseException):
            if len(settings.upstreams) == 1 or not isinstance(result, UpstreamError):
                raise result
            logger.warning("model list of upstream %s unavailable: %s", upstream.name, result)
            continue
        for model in result.get("data") or ():
            if isinstance(model, dict) and model.get("id") not in seen:
                if upstream.models and not upstream.serves(str(model.get("id"))):
                    continue
                seen.add(str(model.get("id")))
                data.append(model)
        for alias in upstream.aliases:
            if alias not in seen:
                seen.add(alias)
                data.append({"id": alias, "object": "model", "created": 0,
                             "owned_by": upstream.name})
    key = current_key()
    if key is not None and key.models:  # only what this key may use
        data = [model for model in data if key.allows(str(model.get("id")))]
    return json_response({"object": "list", "data": data})


async def health(request: web.Request) -> web.Response:
    """GET /health: names the upstreams (never their keys) and the store; 503 with status
    "unavailable" while the store cannot be reached (stored responses would fail)."""
    settings = request.app[settings_key]
    store = request.app.get(store_key)
    health = request.app.get(store_health_key)
    problem = await health.problem(fresh=True) if health is not None else None
    body: dict[str, Any] = {
        "status": "ok" if problem is None else "unavailable",
        "upstreams": [{"name": u.name, "base_url": u.display_url, "profile": u.profile.name}
                      for u in settings.upstreams],
        "store": store.name if store is not None else "none",
    }
    if problem is not None:
        body["store_error"] = problem
    return json_response(body, status=200 if problem is None else 503)
