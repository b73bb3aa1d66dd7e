"""ids.py: 96 random bits per id from a buffered CSPRNG, never repeated across a fork."""

from __future__ import annotations

import os
import re
import threading

from responses_gateway.ids import ID_RANDOM_BITS, new_id


def test_an_id_is_the_prefix_and_96_random_bits_in_hex() -> None:
    assert ID_RANDOM_BITS >= 96
    assert re.fullmatch(r"resp_[0-9a-f]{24}", new_id("resp"))


def test_ids_stay_distinct_across_many_buffer_refills() -> None:
    ids = [new_id("msg") for _ in range(5000)]  # ~15 refills of the 4 KiB buffer
    assert len(set(ids)) == len(ids)
    assert all(len(i) == len("msg_") + 24 for i in ids)


def test_threads_never_share_an_id() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def mint(out: list[str]) -> None:
        out.extend(new_id("item") for _ in range(3000))

    threads = [threading.Thread(target=mint, args=(out,)) for out in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [i for out in found for i in out]
    assert len(set(every)) == len(every) == 12000


def test_a_forked_worker_does_not_repeat_the_parents_ids() -> None:
    new_id("resp")  # the buffer holds unused bytes at the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then exit at once
        os.write(write, new_id("resp").encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child and child != new_id("resp")
