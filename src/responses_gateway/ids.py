"""Random ids (resp_..., msg_..., req_...) from a buffered CSPRNG.

Each id carries 96 random bits from os.urandom, as before, but the bytes are drawn 4 KiB at a
time (one getrandom() call per ~340 ids instead of one per id) and turned into hex once.
The buffer is per thread, and a forked child (a --workers process) starts with an empty one,
so two processes never hand out the same bytes.
"""

from __future__ import annotations

import os
import threading

__all__ = ["ID_RANDOM_BITS", "new_id", "random_hex"]

ID_RANDOM_BITS = 96
_ID_HEX = ID_RANDOM_BITS // 4
_BUFFER_BYTES = 4096


class _Pool(threading.local):
    def __init__(self) -> None:
        self.text = ""
        self.offset = 0


_pool = _Pool()


def random_hex(chars: int) -> str:
    """`chars` hex digits (4 random bits each) from the buffer, refilled when it runs out."""
    pool = _pool
    start = pool.offset
    end = start + chars
    if end > len(pool.text):
        pool.text = os.urandom(max(_BUFFER_BYTES, (chars + 1) // 2)).hex()
        start, end = 0, chars
    pool.offset = end
    return pool.text[start:end]


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_hex(_ID_HEX)}"


def _forget_after_fork() -> None:
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_forget_after_fork)
