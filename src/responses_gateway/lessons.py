"""What each upstream has taught us: the reasoning field it uses, and the request fixes its
errors asked for. In memory, per process, per (upstream, model); nothing here does I/O.

Reading is `reasoning_seen`, `profile_for` and `apply`; learning is `saw_reasoning` and
`learn`, which turns a 400/422 that names a field into a `Fix` (see `diagnose`). Each new fix
is logged once. `stats` counts what happened, and `listeners` are told, for metrics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from .translate.reasoning_fields import VIAS

__all__ = ["Lessons"]

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (upstream name, upstream model)


@dataclass(slots=True)
class _Taught:
    reasoning_field: str | None = None


@dataclass(slots=True)
class Lessons:
    """The process's memory of its upstreams."""

    _taught: dict[Key, _Taught] = field(default_factory=dict)
    # Counters for metrics: "learned", "retried", "retry_failed" (see generation.py).
    stats: dict[str, int] = field(default_factory=lambda: {
        "learned": 0, "retried": 0, "retry_failed": 0})
    # Called with (event, upstream, model, detail) on every count.
    listeners: list[Callable[[str, str, str, str], None]] = field(default_factory=list)

    def reasoning_seen(self, upstream: str, model: str) -> str | None:
        """The field this upstream's model last carried its reasoning in (None: unknown)."""
        taught = self._taught.get((upstream, model))
        return taught.reasoning_field if taught is not None else None

    def saw_reasoning(self, upstream: str, model: str, via: str | None) -> None:
        if via is None or via not in VIAS:
            return
        taught = self._taught.setdefault((upstream, model), _Taught())
        if taught.reasoning_field != via:
            logger.info("upstream %s, model %s: reasoning comes in %r", upstream, model, via)
            taught.reasoning_field = via
