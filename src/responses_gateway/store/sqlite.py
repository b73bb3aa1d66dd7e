"""SQLite store (the default): one WAL-mode file, survives restarts, shareable by processes
on one machine. Calls are short local disk operations made directly in the event loop,
except writes of large records (a worker thread makes those)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator

import orjson

from .base import LARGE_RECORD_BYTES, Conversation, ResponseStore, StoredResponse

__all__ = ["SqliteStore"]

# Tables as the first version made them (owner and size columns are added by _migrate).
_TABLES = """
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

# Tenancy and the item index. `usage` is kept exact by triggers, whichever statement adds,
# replaces or removes a response, so the per-owner bounds cost one indexed read per put.
_TENANCY = (
    "CREATE INDEX IF NOT EXISTS responses_owner_created ON responses (owner, created)",
    "CREATE TABLE IF NOT EXISTS usage ("
    " owner TEXT PRIMARY KEY, entries INTEGER NOT NULL, bytes INTEGER NOT NULL)",
    """CREATE TRIGGER IF NOT EXISTS responses_usage_insert AFTER INSERT ON responses BEGIN
    INSERT INTO usage (owner, entries, bytes) VALUES (NEW.owner, 1, NEW.size)
        ON CONFLICT (owner) DO UPDATE SET entries = entries + 1, bytes = bytes + NEW.size;
END""",
    """CREATE TRIGGER IF NOT EXISTS responses_usage_update AFTER UPDATE OF owner, size
ON responses BEGIN
    UPDATE usage SET entries = entries - 1, bytes = bytes - OLD.size WHERE owner = OLD.owner;
    INSERT INTO usage (owner, entries, bytes) VALUES (NEW.owner, 1, NEW.size)
        ON CONFLICT (owner) DO UPDATE SET entries = entries + 1, bytes = bytes + NEW.size;
END""",
    """CREATE TRIGGER IF NOT EXISTS responses_usage_delete AFTER DELETE ON responses BEGIN
    UPDATE usage SET entries = entries - 1, bytes = bytes - OLD.size WHERE owner = OLD.owner;
END""",
    "CREATE INDEX IF NOT EXISTS conversations_owner_written ON conversations (owner, written)",
    """CREATE TRIGGER IF NOT EXISTS conversations_usage_insert AFTER INSERT ON conversations
BEGIN
    INSERT INTO usage (owner, entries, bytes) VALUES (NEW.owner, 1, NEW.size)
        ON CONFLICT (owner) DO UPDATE SET entries = entries + 1, bytes = bytes + NEW.size;
END""",
    """CREATE TRIGGER IF NOT EXISTS conversations_usage_update AFTER UPDATE OF owner, size
ON conversations BEGIN
    UPDATE usage SET entries = entries - 1, bytes = bytes - OLD.size WHERE owner = OLD.owner;
    INSERT INTO usage (owner, entries, bytes) VALUES (NEW.owner, 1, NEW.size)
        ON CONFLICT (owner) DO UPDATE SET entries = entries + 1, bytes = bytes + NEW.size;
END""",
    """CREATE TRIGGER IF NOT EXISTS conversations_usage_delete AFTER DELETE ON conversations
BEGIN
    UPDATE usage SET entries = entries - 1, bytes = bytes - OLD.size WHERE owner = OLD.owner;
END""",
    "CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, container TEXT NOT NULL) "
    "WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS items_container ON items (container)",
)



class SqliteStore(ResponseStore):
    """Responses, event logs, cancel flags and conversations in one SQLite file.

    `wait_for_events` keeps the base class's short poll: another process may be writing.
    Writes of this process take turns (`_lock`); large records are written by a worker
    thread on a second connection, while reads go on in the event loop (WAL).
    """

    name = "sqlite"
    # A full disk, a file made unreadable, a lock held past busy_timeout.
    outage_errors = (sqlite3.OperationalError,)

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._bulk: sqlite3.Connection | None = None  # the worker thread's connection
        self._lock = asyncio.Lock()

    # -- connection ---------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect(setup=True)
        return self._conn

    def _connect(self, *, setup: bool = False) -> sqlite3.Connection:
        if self.path != ":memory:":
            _create_private(Path(self.path))
        # Autocommit; multi-statement writes take the write lock up front (_transaction).
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=setup)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if setup:
                with _transaction(conn):
                    _create_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the loop's connection; callers hold `_lock`."""
        conn = self._db()
        with _transaction(conn):
            yield conn

    @contextlib.asynccontextmanager
    async def _locked_write(self) -> AsyncIterator[sqlite3.Connection]:
        async with self._lock:
            with self._write() as db:
                yield db

    async def ping(self) -> None:
        self._db().execute("SELECT 1 FROM responses LIMIT 1").fetchall()

    async def close(self) -> None:
        async with self._lock:
            for conn in (self._conn, self._bulk):
                if conn is not None:
                    conn.close()
            self._conn = self._bulk = None

    # -- responses ----------------------------------------------------------------------
    async def put(self, record: StoredResponse) -> None:
        body = self._checked_json(record)
        now = time.time()
        async with self._lock:
            if len(body) < LARGE_RECORD_BYTES or self.path == ":memory:":
                with self._write() as db:
                    self._put(db, record, body, now)
                return
            self._db()  # the schema exists before the thread writes
            await asyncio.to_thread(self._put_in_thread, record, body, now)

    def _put_in_thread(self, record: StoredResponse, body: bytes, now: float) -> None:
        if self._bulk is None:
            self._bulk = self._connect()
        with _transaction(self._bulk):
            self._put(self._bulk, record, body, now)

    def _put(self, db: sqlite3.Connection, record: StoredResponse, body: bytes,
             now: float) -> None:
        db.execute(  # a replace keeps `created`: eviction goes by first insert
            "INSERT INTO responses (id, body, created, expires_at, owner, size) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, "
            "expires_at = excluded.expires_at, owner = excluded.owner, size = excluded.size",
            (record.id, body, now, record.expires_at, record.owner, len(body)))
        db.executemany("INSERT OR REPLACE INTO items (id, container) VALUES (?, ?)",
                       [(item_id, record.id) for item_id in record.index_keys()])
        self._bound(db, record.owner, record.id)

    def _bound(self, db: sqlite3.Connection, owner: str, keep: str) -> None:
        """Remove the owner's oldest records (never `keep`) until it is within bounds:
        responses by first write, conversations by last write."""
        row = db.execute("SELECT entries, bytes FROM usage WHERE owner = ?", (owner,)).fetchone()
        if row is None:
            return
        entries, size = row
        if entries <= self.max_entries and size <= self.max_owner_bytes:
            return
        responses: list[str] = []
        conversations: list[str] = []
        for kind, victim, victim_size, _ in db.execute(
                "SELECT 0, id, size, created AS at FROM responses WHERE owner = ? AND id != ? "
                "UNION ALL SELECT 1, id, size, written FROM conversations "
                "WHERE owner = ? AND id != ? ORDER BY at", (owner, keep, owner, keep)):
            if entries <= self.max_entries and size <= self.max_owner_bytes:
                break
            (conversations if kind else responses).append(victim)
            entries -= 1
            size -= victim_size
        _delete_responses(db, responses)
        for victim in conversations:
            db.execute("DELETE FROM items WHERE container = ?", (victim,))
            db.execute("DELETE FROM conversations WHERE id = ?", (victim,))

    async def get(self, response_id: str) -> StoredResponse | None:
        row = self._db().execute(
            "SELECT body FROM responses WHERE id = ? AND expires_at >= ?",
            (response_id, time.time())).fetchone()
        return None if row is None else StoredResponse.from_json(row[0])

    async def delete(self, response_id: str) -> bool:
        async with self._lock:
            with self._write() as db:
                return _delete_responses(db, [response_id]) > 0

    async def locate_items(self, item_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._db().execute(
                f"SELECT id, container FROM items WHERE id IN ({marks})", chunk).fetchall())
        return found

    # -- stream events ------------------------------------------------------------------
    async def append_events(self, response_id: str, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        async with self._locked_write() as db:
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
        async with self._locked_write() as db:
            db.execute("INSERT OR REPLACE INTO cancels (response_id, at) VALUES (?, ?)",
                       (response_id, time.time()))

    async def cancel_requested(self, response_id: str) -> bool:
        row = self._db().execute("SELECT 1 FROM cancels WHERE response_id = ? AND at >= ?",
                                 (response_id, time.time() - self.ttl)).fetchone()
        return row is not None

    # -- conversations ------------------------------------------------------------------
    async def put_conversation(self, conversation: Conversation) -> None:
        body = self._checked_json(conversation)
        async with self._locked_write() as db:
            db.execute(  # an upsert: REPLACE would skip the usage triggers
                "INSERT INTO conversations (id, body, expires_at, owner, size, written) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body, "
                "expires_at = excluded.expires_at, owner = excluded.owner, "
                "size = excluded.size, written = excluded.written",
                (conversation.id, body, conversation.expires_at, conversation.owner, len(body),
                 time.time()))
            _index_conversation_items(db, conversation.id, conversation.index_keys())
            self._bound(db, conversation.owner, conversation.id)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        row = self._db().execute(
            "SELECT body FROM conversations WHERE id = ? AND expires_at >= ?",
            (conversation_id, time.time())).fetchone()
        return None if row is None else Conversation.from_json(row[0])

    async def delete_conversation(self, conversation_id: str) -> bool:
        async with self._locked_write() as db:
            db.execute("DELETE FROM items WHERE container = ?", (conversation_id,))
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cur.rowcount > 0

    async def edit_conversation(self, conversation_id: str,
                                edit: Callable[[Conversation], None]) -> Conversation | None:
        async with self._locked_write() as db:  # read and write under the write lock
            row = db.execute("SELECT body FROM conversations WHERE id = ? AND expires_at >= ?",
                             (conversation_id, time.time())).fetchone()
            if row is None:
                return None
            conversation = Conversation.from_json(row[0])
            before = set(conversation.index_keys())
            edit(conversation)
            conversation.expires_at = self.expiry()
            body = self._checked_json(conversation)
            db.execute("UPDATE conversations SET body = ?, expires_at = ?, size = ?, "
                       "written = ? WHERE id = ?",
                       (body, conversation.expires_at, len(body), time.time(), conversation_id))
            _index_conversation_items(db, conversation_id, [
                i for i in conversation.index_keys() if i not in before])
            self._bound(db, conversation.owner, conversation_id)
            return conversation

    # -- housekeeping -------------------------------------------------------------------
    async def purge_expired(self) -> int:
        now = time.time()
        async with self._locked_write() as db:
            expired = [row[0] for row in db.execute(
                "SELECT id FROM responses WHERE expires_at < ?", (now,))]
            removed = _delete_responses(db, expired)
            db.execute("DELETE FROM cancels WHERE at < ?", (now - self.ttl,))
            db.execute("DELETE FROM items WHERE container IN "
                       "(SELECT id FROM conversations WHERE expires_at < ?)", (now,))
            db.execute("DELETE FROM conversations WHERE expires_at < ?", (now,))
            # Events logged for a response deleted while it ran.
            db.execute("DELETE FROM events WHERE response_id NOT IN (SELECT id FROM responses)")
        return removed


def _create_schema(conn: sqlite3.Connection) -> None:
    """Create what is missing; a file from an earlier version gains the owner and size
    columns (its rows belong to the default owner, size unknown: 0; its conversations were
    last written at 0) and the usage table."""
    for statement in filter(str.strip, _TABLES.split(";")):
        conn.execute(statement)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(responses)")}
    if "owner" not in columns:
        conn.execute("ALTER TABLE responses ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    if "size" not in columns:
        conn.execute("ALTER TABLE responses ADD COLUMN size INTEGER NOT NULL DEFAULT 0")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(conversations)")}
    for name, kind in (("owner", "TEXT NOT NULL DEFAULT ''"),
                       ("size", "INTEGER NOT NULL DEFAULT 0"),
                       ("written", "REAL NOT NULL DEFAULT 0")):
        if name not in columns:
            conn.execute(f"ALTER TABLE conversations ADD COLUMN {name} {kind}")
    had_usage = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usage'").fetchone()
    for statement in _TENANCY:
        conn.execute(statement)
    if had_usage is None:
        conn.execute("INSERT INTO usage (owner, entries, bytes) "
                     "SELECT owner, COUNT(*), SUM(size) FROM (SELECT owner, size FROM responses "
                     "UNION ALL SELECT owner, size FROM conversations) GROUP BY owner")


def _index_conversation_items(db: sqlite3.Connection, conversation_id: str,
                              item_ids: list[str]) -> None:
    # An item a response also holds stays indexed to the response.
    db.executemany("INSERT OR IGNORE INTO items (id, container) VALUES (?, ?)",
                   [(item_id, conversation_id) for item_id in item_ids])


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
        db.execute(f"DELETE FROM items WHERE container IN ({marks})", chunk)
        removed += db.execute(f"DELETE FROM responses WHERE id IN ({marks})", chunk).rowcount
    return removed
