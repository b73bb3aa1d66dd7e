"""SqliteStore beyond the contract: data survives a restart, and several instances or
processes share one WAL file."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from responses_gateway.store import Conversation, ResponseStore, StoredResponse
from responses_gateway.store.sqlite import SqliteStore


def _record(rid: str, status: str = "completed") -> StoredResponse:
    return StoredResponse(id=rid, response={"id": rid, "status": status},
                          messages=[{"role": "assistant", "content": "saved"}],
                          expires_at=time.time() + 3600)


async def _status(store: ResponseStore, rid: str) -> str | None:
    record = await store.get(rid)
    return None if record is None else record.status


def _event(seq: int, kind: str = "response.output_text.delta") -> dict[str, Any]:
    return {"type": kind, "sequence_number": seq}


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "dir" / "store.db")  # parents are created
    conversation = Conversation(id="conv_1", created_at=1, items=[{"id": "i"}],
                                expires_at=time.time() + 3600)
    record = _record("resp_1")

    async def write() -> None:
        store = SqliteStore(path)
        await store.put(record)
        await store.append_events("resp_1", [_event(0), _event(1, "response.completed")])
        await store.request_cancel("resp_2")
        await store.put_conversation(conversation)
        await store.close()
        await store.close()  # idempotent

    async def read() -> None:
        store = SqliteStore(path)
        try:
            assert await store.get("resp_1") == record
            assert [e["sequence_number"] for e in await store.events_after("resp_1", -1)] == [0, 1]
            assert await store.cancel_requested("resp_2") is True
            assert await store.get_conversation("conv_1") == conversation
        finally:
            await store.close()

    asyncio.run(write())
    asyncio.run(read())  # a new event loop and a new instance, as after a restart


def test_file_uses_wal(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")

    async def touch() -> None:
        store = SqliteStore(path)
        try:
            await store.get("resp_x")
        finally:
            await store.close()

    asyncio.run(touch())
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"responses", "events", "cancels", "conversations"} <= tables
    finally:
        conn.close()


def test_two_instances_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")

    async def main() -> None:
        a, b = SqliteStore(path, max_entries=2), SqliteStore(path, max_entries=2)
        try:
            await a.put(_record("resp_1", "in_progress"))
            assert await _status(b, "resp_1") == "in_progress"
            await b.put(_record("resp_1", "completed"))
            assert await _status(a, "resp_1") == "completed"
            await b.request_cancel("resp_1")
            assert await a.cancel_requested("resp_1") is True

            async def follow() -> list[int]:
                return [e["sequence_number"] async for e in b.follow_events("resp_1")]

            async def produce() -> None:
                for seq in range(3):
                    await asyncio.sleep(0.05)
                    await a.append_events("resp_1", [_event(seq)])
                await a.append_events("resp_1", [_event(3, "response.completed")])

            followed, _ = await asyncio.wait_for(asyncio.gather(follow(), produce()), 10)
            assert followed == [0, 1, 2, 3]
            # The bound holds across instances: two more inserts evict resp_1.
            await a.put(_record("resp_2"))
            await b.put(_record("resp_3"))
            assert await a.get("resp_1") is None and await b.events_after("resp_1", -1) == []
            assert await a.delete("resp_2") is True and await b.get("resp_2") is None
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_another_process_writes_while_we_follow(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    writer = textwrap.dedent(f"""
        import asyncio, time
        from responses_gateway.store import ResponseStore, StoredResponse
        from responses_gateway.store.sqlite import SqliteStore

        async def main():
            store = SqliteStore({path!r})
            await store.put(StoredResponse(id="resp_p", response={{"status": "completed"}},
                                           expires_at=time.time() + 60))
            for seq in range(5):
                kind = "response.completed" if seq == 4 else "response.output_text.delta"
                await store.append_events("resp_p", [{{"type": kind, "sequence_number": seq}}])
                await asyncio.sleep(0.02)
            await store.close()

        asyncio.run(main())
    """)

    async def main() -> list[int]:
        store = SqliteStore(path)
        await store.get("resp_p")  # create the file first, as a running gateway would
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", writer,
                                                    stderr=subprocess.PIPE)
        try:
            followed = [e["sequence_number"] async for e in store.follow_events("resp_p")]
            assert await _status(store, "resp_p") == "completed"
            return followed
        finally:
            _, stderr = await proc.communicate()
            assert proc.returncode == 0, stderr.decode()
            await store.close()

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [0, 1, 2, 3, 4]


def test_a_file_from_the_previous_version_opens_and_keeps_its_rows(tmp_path: Path) -> None:
    # The schema as the version before owners wrote it, with one stored response.
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE responses (id TEXT PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL,
                                expires_at REAL NOT NULL);
        CREATE TABLE events (response_id TEXT NOT NULL, seq INTEGER NOT NULL,
                             body BLOB NOT NULL, PRIMARY KEY (response_id, seq)) WITHOUT ROWID;
        CREATE TABLE cancels (response_id TEXT PRIMARY KEY, at REAL NOT NULL);
        CREATE TABLE conversations (id TEXT PRIMARY KEY, body BLOB NOT NULL,
                                    expires_at REAL NOT NULL);
    """)
    body = b'{"id":"resp_old","response":{"id":"resp_old","status":"completed","output":[]},' \
           b'"input_items":[],"messages":[],"upstream":"u","lease_until":null,' \
           b'"expires_at":%d}' % int(time.time() + 3600)
    old.execute("INSERT INTO responses VALUES (?, ?, ?, ?)",
                ("resp_old", body, time.time() - 10, time.time() + 3600))
    old.commit()
    old.close()

    async def main() -> None:
        store = SqliteStore(str(path), max_entries=2)
        try:
            record = await store.get_owned("resp_old", "")
            assert record is not None and record.owner == ""
            await store.put(_record("resp_new"))  # default owner too: two of two
            assert await store.get("resp_old") is not None
            await store.put(_record("resp_newer"))  # the old row is the oldest: it goes
            assert await store.get("resp_old") is None
        finally:
            await store.close()

    asyncio.run(main())


def test_large_records_are_written_off_the_event_loop(tmp_path: Path) -> None:
    big = _record("resp_big")
    big.messages = [{"role": "user", "content": "x" * (16 << 20)}]

    async def main() -> None:
        store = SqliteStore(str(tmp_path / "s.db"))
        try:
            await store.get("warm-up")
            ticks = 0
            stop = False

            async def tick() -> None:
                nonlocal ticks
                while not stop:
                    ticks += 1
                    await asyncio.sleep(0)

            ticker = asyncio.create_task(tick())
            await asyncio.sleep(0)
            before = ticks
            await store.put(big)
            stop = True
            await ticker
            assert ticks - before > 1  # the loop went on while the record was written
            assert await store.get("resp_big") == big
            await store.put(_record("resp_small"))  # the loop's own connection still writes
            assert await store.get("resp_small") is not None
        finally:
            await store.close()

    asyncio.run(main())
