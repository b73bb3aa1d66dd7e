"""Typed keys for what the app shares between handlers (no globals, no import cycles)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from .config import Settings
from .store import ResponseStore
from .translate.reasoning import ReasoningSeal

__all__ = ["runs_key", "seal_key", "session_key", "settings_key", "store_key"]

settings_key = web.AppKey("responses_gateway.settings", Settings)
session_key = web.AppKey("responses_gateway.session", aiohttp.ClientSession)
# Absent when the store is off (`--store none`).
store_key = web.AppKey("responses_gateway.store", ResponseStore)
seal_key = web.AppKey("responses_gateway.seal", ReasoningSeal)
# Background runs of this process, by response id; cancelled and awaited at shutdown.
runs_key = web.AppKey("responses_gateway.runs", dict[str, asyncio.Task[None]])
