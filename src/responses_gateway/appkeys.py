"""Typed keys for what the app shares between handlers (no globals, no import cycles)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from .accounting import accounting_key  # defined there: observe.py needs it too
from .config import Settings
from .keys import KeyRing
from .lessons import Lessons
from .metrics import Metrics
from .protocol.errors import InvalidRequest
from .shutdown import Shutdown
from .store import ResponseStore
from .translate.reasoning import ReasoningSeal
from .upstream import PoolSlots

__all__ = ["accounting_key", "keyring_key", "lessons_key", "metrics_key", "owner_secret_key",
           "require_store", "runs_key", "seal_key", "session_key", "settings_key", "shutdown_key",
           "slots_key", "store_key", "too_large"]

settings_key = web.AppKey("responses_gateway.settings", Settings)
session_key = web.AppKey("responses_gateway.session", aiohttp.ClientSession)
slots_key = web.AppKey("responses_gateway.upstream_slots", PoolSlots)
# Absent when the store is off (`--store none`).
store_key = web.AppKey("responses_gateway.store", ResponseStore)
seal_key = web.AppKey("responses_gateway.seal", ReasoningSeal)
# What the upstreams have taught this process (lessons.py).
lessons_key = web.AppKey("responses_gateway.lessons", Lessons)
# The secret client keys are hashed under to name the owner of stored records (tenancy.py).
owner_secret_key = web.AppKey("responses_gateway.owner_secret", bytes)
# Absent when metrics are off (`--metrics off`).
metrics_key = web.AppKey("responses_gateway.metrics", Metrics)
# The client keys in force (re-read on SIGHUP when a keys file is used).
keyring_key = web.AppKey("responses_gateway.keyring", KeyRing)
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


def too_large(size: int, limit: int, param: str) -> InvalidRequest:
    """The 400 for a response or conversation that would be stored over the size limit."""
    return InvalidRequest(
        f"This would be stored as {size} bytes, over this gateway's limit of {limit} bytes "
        "per stored response or conversation (--store-max-response-bytes). Send less, "
        "start a new conversation, or use store: false.",
        param=param, code="stored_response_too_large")
