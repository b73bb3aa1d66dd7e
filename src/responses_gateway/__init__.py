"""responses-gateway: the OpenAI Responses API over any Chat Completions provider."""

from __future__ import annotations

__version__ = "0.1.0"

from .config import Settings  # noqa: E402
from .server import create_app  # noqa: E402

__all__ = ["Settings", "__version__", "create_app"]
