"""Graceful shutdown: on SIGTERM, let the work in flight finish up to a deadline, then end it.

aiohttp's runner first stops accepting connections, then calls the app's `on_shutdown` hooks,
where `drain` runs:

1. **draining**: streams (`Shutdown.busy`) and background runs go on, until none is left or
   `--shutdown-timeout` seconds have passed (followers of background runs do not hold this
   up: the run they follow may live on another replica);
2. **stopping**: each stream still running ends with `response.failed`
   (`server_shutting_down`), and is stored; each background run is cancelled and settles the
   same way; followers of background runs get a moment to pass those ends on.

Then the runner closes what is left and the app's cleanup contexts close the store and the
client session, so the process exits within the deadline plus about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Callable, Iterator

__all__ = ["Shutdown", "drain"]

logger = logging.getLogger(__name__)

_SETTLE = 1.5  # seconds for what was stopped to store and send its end
_POLL = 0.05  # seconds between checks while draining


class Shutdown:
    """This process's shutdown state and the streams it has to wait for."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.draining = asyncio.Event()  # SIGTERM arrived: no new work is accepted
        self.stopping = asyncio.Event()  # the deadline passed: end what still runs
        self._busy = 0
        self._following = 0

    @property
    def busy_count(self) -> int:
        return self._busy

    @property
    def following_count(self) -> int:
        return self._following

    @contextlib.contextmanager
    def busy(self, *, holds_drain: bool = True) -> Iterator[None]:
        """Mark a stream in progress for as long as the block runs. One that does not hold
        the drain (a follower) is only waited for once the deadline has passed."""
        if holds_drain:
            self._busy += 1
        else:
            self._following += 1
        try:
            yield
        finally:
            if holds_drain:
                self._busy -= 1
            else:
                self._following -= 1

    def stop_now(self) -> None:
        """Skip what is left of the deadline (a second SIGTERM or Ctrl-C)."""
        self.draining.set()
        self.stopping.set()


async def drain(shutdown: Shutdown, runs: dict[str, asyncio.Task[None]]) -> None:
    """The on_shutdown hook: wait for streams and runs up to the deadline, then stop them."""
    shutdown.draining.set()
    loop = asyncio.get_running_loop()
    if shutdown.busy_count or runs:
        logger.info("shutting down: waiting up to %g s for %d stream(s) and %d background "
                    "run(s)", shutdown.timeout, shutdown.busy_count, len(runs))
    await _until(lambda: not (shutdown.busy_count or runs) or shutdown.stopping.is_set(),
                 loop.time() + shutdown.timeout)
    if shutdown.busy_count or runs:
        logger.warning("shutdown deadline: ending %d stream(s) and %d background run(s) as "
                       "failed (server_shutting_down)", shutdown.busy_count, len(runs))
    shutdown.stopping.set()
    tasks = list(runs.values())
    for task in tasks:
        task.cancel()  # the run settles as failed (no cancel was requested) and stores it
    if tasks:
        await asyncio.wait(tasks, timeout=_SETTLE)
    # Streams store and send their ends; followers pass on the ends the runs just logged.
    await _until(lambda: not (shutdown.busy_count or shutdown.following_count),
                 loop.time() + _SETTLE)


async def _until(done: Callable[[], bool], deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while not done() and loop.time() < deadline:
        await asyncio.sleep(_POLL)
