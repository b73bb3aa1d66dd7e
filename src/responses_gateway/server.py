"""The aiohttp application: routes, auth, error rendering and resource lifecycles.

`create_app(settings)` is the one factory used by the command line, the tests and the
benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import signal
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from .admission import Admission, admission_key, admission_middleware
from .appkeys import (
    keyring_key,
    lessons_key,
    metrics_key,
    owner_secret_key,
    runs_key,
    seal_key,
    session_key,
    settings_key,
    shutdown_key,
    slots_key,
    store_key,
)
from .background import track_runs
from .browser import BrowserPolicy, browser_middleware, browser_policy_key
from .config import Settings
from .lessons import Lessons
from .protocol.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
)
from .protocol.headers import check_headers
from . import conversations
from .compaction import compact_response
from .connections import body_middleware
from .accounting import accounting_lifecycle
from .admin import status_page, usage_report
from .keys import KeyRing, using_key
from .metrics import CONTENT_TYPE, Metrics, instrument_store
from .observe import add_request_id, make_observe_middleware, note_error
from .rendering import error_response
from .retrieval import cancel_response, delete_response, get_response, list_input_items
from .shutdown import Shutdown, drain
from .store import ResponseStore, open_store
from .storehealth import StoreHealth, outage_of, store_health_key
from .tenancy import owner_secret, presented_key
from .translate.reasoning import ReasoningSeal
from .upstream import PoolSlots, create_session
from .views import create_response, health, list_models
from .websocket import responses_websocket

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PURGE_EVERY = 300.0  # seconds between sweeps of expired stored responses

# Paths anyone may call, even when the gateway requires its own API key.
_PUBLIC_PATHS = frozenset({"/health", "/healthz"})
# Paths that check the admin key themselves (not a client key).
_ADMIN_PATHS = frozenset({"/v1/usage", "/usage", "/ui"})


def create_app(settings: Settings) -> web.Application:
    """Build the gateway application for `settings`."""
    metrics = Metrics() if settings.metrics else None
    app = web.Application(
        client_max_size=settings.limits.max_body_bytes,
        middlewares=[make_observe_middleware(metrics, log_bodies=settings.log_bodies),
                     _error_middleware, _header_middleware, browser_middleware,
                     _auth_middleware,
                     admission_middleware, body_middleware],
    )
    app[settings_key] = settings
    app[keyring_key] = KeyRing(settings.client_keys, path=settings.keys_file,
                               environ=os.environ, from_file=settings.file_keys)
    app[admission_key] = Admission(settings.limits)
    app[browser_policy_key] = BrowserPolicy(settings)
    if metrics is not None:
        app[metrics_key] = metrics
    app.on_response_prepare.append(add_request_id)
    app[seal_key] = ReasoningSeal(settings.reasoning_key or os.urandom(32))
    app[lessons_key] = Lessons()
    if metrics is not None:
        app[lessons_key].listeners.append(metrics.count_lesson)
    app[owner_secret_key] = owner_secret(app[seal_key].key)
    app[shutdown_key] = Shutdown(settings.shutdown_timeout)
    app.on_shutdown.append(_drain)
    app.cleanup_ctx.append(_client_session)
    app.cleanup_ctx.append(_response_store)
    app.cleanup_ctx.append(track_runs)
    app.cleanup_ctx.append(accounting_lifecycle)
    _setup_routes(app)
    return app


def _setup_routes(app: web.Application) -> None:
    for prefix in ("/v1", ""):
        # Some clients are configured with a base URL that lacks /v1.
        app.router.add_post(f"{prefix}/responses", create_response)
        app.router.add_get(f"{prefix}/responses", responses_websocket)
        app.router.add_post(f"{prefix}/responses/compact", compact_response)
        app.router.add_get(f"{prefix}/responses/{{response_id}}", get_response)
        app.router.add_delete(f"{prefix}/responses/{{response_id}}", delete_response)
        app.router.add_get(f"{prefix}/responses/{{response_id}}/input_items", list_input_items)
        app.router.add_post(f"{prefix}/responses/{{response_id}}/cancel", cancel_response)
        app.router.add_get(f"{prefix}/models", list_models)
        conversations_url = f"{prefix}/conversations"
        one = f"{conversations_url}/{{conversation_id}}"
        app.router.add_post(conversations_url, conversations.create_conversation)
        app.router.add_get(one, conversations.get_conversation)
        app.router.add_post(one, conversations.update_conversation)
        app.router.add_delete(one, conversations.delete_conversation)
        app.router.add_get(f"{one}/items", conversations.list_items)
        app.router.add_post(f"{one}/items", conversations.add_items)
        app.router.add_get(f"{one}/items/{{item_id}}", conversations.get_item)
        app.router.add_delete(f"{one}/items/{{item_id}}", conversations.delete_item)
    app.router.add_get("/health", health)
    app.router.add_get("/healthz", health)
    if app[settings_key].admin_key:
        app.router.add_get("/v1/usage", usage_report)
        app.router.add_get("/usage", usage_report)
        app.router.add_get("/ui", status_page)
    if app.get(metrics_key) is not None:
        app.router.add_get("/metrics", metrics_view)


async def _drain(app: web.Application) -> None:
    # Runs after the listening sockets closed, before the cleanup contexts below.
    await drain(app[shutdown_key], app[runs_key])


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    session = create_session(settings.timeouts, settings.limits)
    app[session_key] = session
    app[slots_key] = PoolSlots(settings.limits.max_connections, settings.timeouts.pool)
    yield
    await session.close()


async def _response_store(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    store = open_store(settings.store_url, ttl=settings.store_ttl,
                       max_entries=settings.store_max_entries,
                       max_owner_bytes=settings.store_max_key_bytes,
                       max_record_bytes=settings.store_max_response_bytes)
    purger = None
    if store is not None:
        metrics = app.get(metrics_key)
        if metrics is not None:
            instrument_store(store, metrics)
        app[store_key] = store
        app[store_health_key] = StoreHealth(store)
        purger = asyncio.create_task(_purge_periodically(store))
    yield
    if purger is not None:
        purger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purger
    if store is not None:
        await store.close()


async def _purge_periodically(store: ResponseStore) -> None:
    while True:
        await asyncio.sleep(_PURGE_EVERY)
        try:
            removed = await store.purge_expired()
        except Exception:  # a failing purge must not take the gateway down
            logger.exception("purging expired responses failed")
        else:
            if removed:
                logger.info("purged %d expired responses", removed)


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as an OpenAI-style error body; never a traceback."""
    try:
        return await handler(request)
    except GatewayError as exc:
        note_error(exc)
        if exc.status >= 500:
            logger.warning("%s %s -> %d: %s", request.method, request.path, exc.status,
                           exc.message)
        return error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[settings_key].limits.max_body_bytes
        error = InvalidRequest(f"The request body is larger than {limit} bytes "
                               "(--max-body-bytes, counted after decompression).",
                               code="request_too_large")
        error.status = 413
        return error_response(error)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        response = error_response(MethodNotAllowed(
            f"{request.method} is not allowed on {request.path}; use {allowed}."))
        response.headers["Allow"] = allowed
        return response
    except web.HTTPNotFound:
        return error_response(NotFound(f"No route for {request.method} {request.path}."))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        other = GatewayError(exc.reason)
        other.status = exc.status
        other.type = "invalid_request_error" if exc.status < 500 else "server_error"
        return error_response(other)
    except (ConnectionResetError, ConnectionError):
        raise
    except Exception as exc:
        outage = outage_of(request.app, exc)
        if outage is not None:
            logger.warning("%s %s -> 503: %s", request.method, request.path, outage.message)
            return error_response(outage)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(GatewayError("The gateway hit an internal error."))


@web.middleware
async def _header_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    check_headers(request.headers.items())  # a 400 for a header that is not UTF-8
    return await handler(request)


@web.middleware
async def _auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[settings_key]
    ring = request.app[keyring_key]
    using_key(None)  # a kept-alive connection's task may still hold the previous request's
    if request.path == "/metrics" and settings.metrics_token:
        return await handler(request)  # its own token, checked by the view
    if request.path in _ADMIN_PATHS:
        return await handler(request)  # the admin key, checked by the view
    if not ring.required:
        _name_key(request, "default")
    elif request.path not in _PUBLIC_PATHS:
        presented = presented_key(request)
        if presented is None:
            raise AuthenticationFailed("Missing API key: send 'Authorization: Bearer <key>'.")
        matched = ring.match(presented)
        if matched is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        using_key(matched)
        _name_key(request, matched.name)
    return await handler(request)


def _name_key(request: web.Request, name: str) -> None:
    """Logs, metrics and usage name the key (never show it) from here on."""
    request["rg.key_name"] = name
    log = request.get("rg.log")
    if log is not None:
        log.key = name


def reload_keys(app: web.Application) -> None:
    """Make SIGHUP re-read the keys file (in the running loop)."""
    ring = app[keyring_key]
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, ring.reload)


async def metrics_view(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text format."""
    settings = request.app[settings_key]
    token = settings.metrics_token
    if token:
        presented = presented_key(request) or ""
        if not hmac.compare_digest(presented.encode(), token.encode()):
            raise AuthenticationFailed("/metrics needs the metrics token: send "
                                       "'Authorization: Bearer <token>'.")
    body = request.app[metrics_key].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

