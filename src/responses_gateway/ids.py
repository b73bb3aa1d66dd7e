"""Random ids (resp_..., msg_..., fc_..., conv_...) from a buffered CSPRNG. (Request ids are
UUID4s: llama-cpp-python refuses any other X-Request-Id.)

Each id carries 96 random bits from os.urandom, as before, but the bytes are drawn 4 KiB at a
time (one getrandom() call per 340 ids instead of one per id), turned into hex and cut into
id-sized pieces at once. The pieces are handed out by a list iterator, whose next() the GIL
makes atomic: two threads never get the same piece. A forked child (a --workers process)
starts with none, so two processes never hand out the same bytes.
"""

from __future__ import annotations

import os
from typing import Iterator

__all__ = ["ID_RANDOM_BITS", "new_id"]

ID_RANDOM_BITS = 96
_ID_HEX = ID_RANDOM_BITS // 4
_IDS_PER_DRAW = 340  # 340 * 12 bytes: one 4 KiB read

_pieces: Iterator[str] = iter(())


def _draw() -> str:
    global _pieces
    text = os.urandom(_IDS_PER_DRAW * _ID_HEX // 2).hex()
    fresh = iter([text[i:i + _ID_HEX] for i in range(0, len(text), _ID_HEX)])
    first = next(fresh)
    _pieces = fresh
    return first


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_pieces, None) or _draw()}"


def _forget_after_fork() -> None:
    global _pieces
    _pieces = iter(())


os.register_at_fork(after_in_child=_forget_after_fork)
