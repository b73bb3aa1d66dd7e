"""SQLite store (the default): one WAL-mode file, survives restarts, shareable by processes
on one machine. Calls are short local disk operations made directly in the event loop."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson

from .base import Conversation, ResponseStore, StoredResponse

__all__ = ["SqliteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY, body BLOB NOT NULL, created REAL NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS responses_expires_at ON responses (expires_at);
CREATE INDEX IF NOT EXISTS responses_created ON responses (created);
CREATE TABLE IF NOT EXISTS events (
    response_id TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (response_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cancels (response_id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS cancels_at ON cancels (at);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, body BLOB NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_expires_at ON conversations (expires_at);
"""


class SqliteStore(ResponseStore):
    """Responses, event logs, cancel flags and conversations in one SQLite file.

    `wait_for_events` keeps the base class's short poll: another process may be writing.
    """

    name = "sqlite"
    # A full disk, a file made unreadable, a lock held past busy_timeout.
    outage_errors = (sqlite3.OperationalError,)

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._inserts = 0  # since the size bound was last checked

    # -- connection ---------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                _create_private(Path(self.path))
            # Autocommit; multi-statement writes take the write lock up front (_write).
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute("PRAGMA busy_timeout=5000")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                with _transaction(conn):
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._db()
        with _transaction(conn):
            yield conn

    async def ping(self) -> None:
        self._db().execute("SELECT 1 FROM responses LIMIT 1").fetchall()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    # -- responses ----------------------------------------------------------------------
    async def put(self, record: StoredResponse) -> None:
        with self._write() as db:
            existed = db.execute("SELECT 1 FROM responses WHERE id = ?", (record.id,)).fetchone()
            db.execute(  # a replace keeps `created`: eviction goes by first insert
                "INSERT INTO responses (id, body, created, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET body = excluded.body, "
                "expires_at = excluded.expires_at",
                (record.id, record.to_json(), time.time(), record.expires_at))
            if existed is None:  # only an insert can push the table over its bound
                self._inserts += 1
                # COUNT(*) walks the whole table: check the bound every few inserts only,
                # which lets the table overshoot by at most 5 % between checks.
                if self._inserts >= max(1, min(1000, self.max_entries // 20)):
                    self._inserts = 0
                    self._evict(db)

    def _evict(self, db: sqlite3.Connection) -> None:
        (count,) = db.execute("SELECT COUNT(*) FROM responses").fetchone()
        excess = count - self.max_entries
        if excess <= 0:
            return
        oldest = [row[0] for row in db.execute(
            "SELECT id FROM responses ORDER BY created, rowid LIMIT ?", (excess,))]
        _delete_responses(db, oldest)

    async def get(self, response_id: str) -> StoredResponse | None:
        row = self._db().execute(
            "SELECT body FROM responses WHERE id = ? AND expires_at >= ?",
            (response_id, time.time())).fetchone()
        return None if row is None else StoredResponse.from_json(row[0])

    async def delete(self, response_id: str) -> bool:
        with self._write() as db:
            return _delete_responses(db, [response_id]) > 0

    # -- stream events ------------------------------------------------------------------
    async def append_events(self, response_id: str, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        with self._write() as db:
            # Keyed by sequence number: re-appending an already logged event is a no-op.
            db.executemany(
                "INSERT OR IGNORE INTO events (response_id, seq, body) VALUES (?, ?, ?)",
                [(response_id, e["sequence_number"], orjson.dumps(e)) for e in events])

    async def events_after(self, response_id: str, after: int) -> list[dict[str, Any]]:
        rows = self._db().execute(
            "SELECT body FROM events WHERE response_id = ? AND seq > ? ORDER BY seq",
            (response_id, after))
        return [orjson.loads(body) for (body,) in rows]

    # -- cancellation -------------------------------------------------------------------
    async def request_cancel(self, response_id: str) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO cancels (response_id, at) VALUES (?, ?)",
                       (response_id, time.time()))

    async def cancel_requested(self, response_id: str) -> bool:
        row = self._db().execute("SELECT 1 FROM cancels WHERE response_id = ? AND at >= ?",
                                 (response_id, time.time() - self.ttl)).fetchone()
        return row is not None

    # -- conversations ------------------------------------------------------------------
    async def put_conversation(self, conversation: Conversation) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO conversations (id, body, expires_at) VALUES (?, ?, ?)",
                (conversation.id, conversation.to_json(), conversation.expires_at))

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = self._db().execute(
            "SELECT body FROM conversations WHERE id = ? AND expires_at >= ?",
            (conversation_id, time.time())).fetchone()
        return None if row is None else Conversation.from_json(row[0])

    async def delete_conversation(self, conversation_id: str) -> bool:
        with self._write() as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cur.rowcount > 0

    async def edit_conversation(self, conversation_id: str,
                                edit: Callable[[Conversation], None]) -> Conversation | None:
        with self._write() as db:  # read and write under the write lock
            row = db.execute("SELECT body FROM conversations WHERE id = ? AND expires_at >= ?",
                             (conversation_id, time.time())).fetchone()
            if row is None:
                return None
            conversation = Conversation.from_json(row[0])
            edit(conversation)
            conversation.expires_at = self.expiry()
            db.execute("UPDATE conversations SET body = ?, expires_at = ? WHERE id = ?",
                       (conversation.to_json(), conversation.expires_at, conversation_id))
            return conversation

    # -- housekeeping -------------------------------------------------------------------
    async def purge_expired(self) -> int:
        now = time.time()
        with self._write() as db:
            expired = [row[0] for row in db.execute(
                "SELECT id FROM responses WHERE expires_at < ?", (now,))]
            removed = _delete_responses(db, expired)
            db.execute("DELETE FROM cancels WHERE at < ?", (now - self.ttl,))
            db.execute("DELETE FROM conversations WHERE expires_at < ?", (now,))
            # Events logged for a response deleted while it ran.
            db.execute("DELETE FROM events WHERE response_id NOT IN (SELECT id FROM responses)")
        return removed


def _create_private(path: Path) -> None:
    """The directory (0700) and the database file (0600), made before SQLite opens it:
    SQLite creates files with the umask's mode (often world-readable 0644) and gives its
    -wal and -shm files the database file's mode."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE .. COMMIT: take the write lock first, so busy_timeout applies."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # some errors already rolled it back
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _delete_responses(db: sqlite3.Connection, ids: list[str]) -> int:
    """Delete responses with their events and cancel flags; returns responses removed."""
    removed = 0
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(f"DELETE FROM events WHERE response_id IN ({marks})", chunk)
        db.execute(f"DELETE FROM cancels WHERE response_id IN ({marks})", chunk)
        removed += db.execute(f"DELETE FROM responses WHERE id IN ({marks})", chunk).rowcount
    return removed
