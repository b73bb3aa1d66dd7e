"""Typed keys for what the app shares between handlers (no globals, no import cycles)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from .config import Settings

__all__ = ["session_key", "settings_key"]

settings_key = web.AppKey("responses_gateway.settings", Settings)
session_key = web.AppKey("responses_gateway.session", aiohttp.ClientSession)
