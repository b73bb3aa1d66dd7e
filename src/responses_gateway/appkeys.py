"""Typed keys for what the app shares between handlers (no globals, no import cycles)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from .config import Settings
from .metrics import Metrics
from .protocol.errors import InvalidRequest
from .shutdown import Shutdown
from .store import ResponseStore
from .translate.reasoning import ReasoningSeal
from .upstream import PoolSlots

__all__ = ["metrics_key", "require_store", "runs_key", "seal_key", "session_key", "settings_key",
           "shutdown_key", "slots_key", "store_key"]

settings_key = web.AppKey("responses_gateway.settings", Settings)
session_key = web.AppKey("responses_gateway.session", aiohttp.ClientSession)
slots_key = web.AppKey("responses_gateway.upstream_slots", PoolSlots)
# Absent when the store is off (`--store none`).
store_key = web.AppKey("responses_gateway.store", ResponseStore)
seal_key = web.AppKey("responses_gateway.seal", ReasoningSeal)
# Absent when metrics are off (`--metrics off`).
metrics_key = web.AppKey("responses_gateway.metrics", Metrics)
# Background runs of this process, by response id; cancelled and awaited at shutdown.
runs_key = web.AppKey("responses_gateway.runs", dict[str, asyncio.Task[None]])
# What SIGTERM does to streams and runs in flight (shutdown.py).
shutdown_key = web.AppKey("responses_gateway.shutdown", Shutdown)


def require_store(app: web.Application, feature: str) -> ResponseStore:
    """The store, or a clear 400 when it is off."""
    store = app.get(store_key)
    if store is None:
        raise InvalidRequest(f"{feature} need the response store, which is off on this gateway "
                             "(--store none).", code="store_disabled")
    return store
