"""PostgreSQL store: durable and shared by any number of replicas, through a connection pool
(asyncpg). The schema is created, or migrated to the current version, at first use, under an
advisory lock so replicas that start together do not race. Followers of a background
response wake on NOTIFY instead of polling; cancel flags are rows, like SQLite's.

URL: postgresql://user:password@host:port/database (also postgres://), with an optional
`schema=NAME` query parameter to keep the tables in their own schema (made if missing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Callable

import orjson

from .base import Conversation, ResponseStore, StoredResponse
from .urls import postgres_dsn

__all__ = ["PostgresStore", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_LOCK_ID = 0x7267_7374  # pg_advisory_xact_lock key for migrations ("rgst")
_EVENTS_CHANNEL = "rg_events"

# Version -> statements that bring the schema from the previous version to it.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE rg_responses (
            id TEXT PRIMARY KEY, body BYTEA NOT NULL, created DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL, owner TEXT NOT NULL DEFAULT '',
            size BIGINT NOT NULL DEFAULT 0, seq BIGSERIAL NOT NULL)""",
        "CREATE INDEX rg_responses_expires_at ON rg_responses (expires_at)",
        "CREATE INDEX rg_responses_owner_created ON rg_responses (owner, created, seq)",
        """CREATE TABLE rg_events (
            response_id TEXT NOT NULL, seq INTEGER NOT NULL, body BYTEA NOT NULL,
            PRIMARY KEY (response_id, seq))""",
        "CREATE TABLE rg_cancels (response_id TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL)",
        "CREATE INDEX rg_cancels_at ON rg_cancels (at)",
        """CREATE TABLE rg_conversations (
            id TEXT PRIMARY KEY, body BYTEA NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
            owner TEXT NOT NULL DEFAULT '', size BIGINT NOT NULL DEFAULT 0,
            written DOUBLE PRECISION NOT NULL DEFAULT 0)""",
        "CREATE INDEX rg_conversations_expires_at ON rg_conversations (expires_at)",
        "CREATE INDEX rg_conversations_owner_written ON rg_conversations (owner, written)",
        "CREATE TABLE rg_items (id TEXT PRIMARY KEY, container TEXT NOT NULL)",
        "CREATE INDEX rg_items_container ON rg_items (container)",
        # Per-owner totals of responses and conversations, kept exact by triggers whatever
        # statement changes a record, so the owner's bounds cost one indexed read per write.
        """CREATE TABLE rg_owner_usage (
            owner TEXT PRIMARY KEY, entries BIGINT NOT NULL, bytes BIGINT NOT NULL)""",
        """CREATE FUNCTION rg_count_owner_usage() RETURNS trigger AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE rg_owner_usage SET entries = entries - 1, bytes = bytes - OLD.size
                    WHERE owner = OLD.owner;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO rg_owner_usage AS u (owner, entries, bytes)
                    VALUES (NEW.owner, 1, NEW.size)
                    ON CONFLICT (owner) DO UPDATE
                    SET entries = u.entries + 1, bytes = u.bytes + NEW.size;
            END IF;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER rg_responses_owner_usage
            AFTER INSERT OR DELETE OR UPDATE OF owner, size ON rg_responses
            FOR EACH ROW EXECUTE FUNCTION rg_count_owner_usage()""",
        """CREATE TRIGGER rg_conversations_owner_usage
            AFTER INSERT OR DELETE OR UPDATE OF owner, size ON rg_conversations
            FOR EACH ROW EXECUTE FUNCTION rg_count_owner_usage()""",
    ),
}


class PostgresStore(ResponseStore):
    """Responses, event logs, cancel flags, conversations and the item index in PostgreSQL."""

    name = "postgres"

    def __init__(self, url: str, *, pool_size: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            import asyncpg
        except ImportError:
            raise RuntimeError("the PostgreSQL store needs asyncpg: "
                               "pip install 'responses-gateway[postgres]'") from None
        # What a server that went away raises: the store is then "unavailable" (503).
        self.outage_errors = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
                              asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
                              asyncpg.TooManyConnectionsError)
        self.dsn, self.schema = postgres_dsn(url)
        self.pool_size = pool_size
        self._pool: Any = None
        self._listener: Any = None
        self._opening = asyncio.Lock()
        self._waiters: dict[str, set[asyncio.Event]] = {}

    # -- connections --------------------------------------------------------------------
    async def _db(self) -> Any:
        """The pool, made (and the schema migrated) on first use."""
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                import asyncpg

                settings = {"search_path": self.schema} if self.schema else {}
                if self.schema:
                    first = await asyncpg.connect(self.dsn)
                    try:
                        await first.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                    finally:
                        await first.close()
                pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=self.pool_size,
                                                 server_settings=settings)
                try:
                    async with pool.acquire() as conn:
                        await _migrate(conn)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        pool = await self._db()
        async with pool.acquire() as conn:
            async with conn.transaction():
                yield conn

    async def _listen(self) -> None:
        """One connection per process LISTENs for event notifications (lazily)."""
        if self._listener is not None:
            return
        import asyncpg

        await self._db()
        async with self._opening:
            if self._listener is None:
                settings = {"search_path": self.schema} if self.schema else {}
                listener = await asyncpg.connect(self.dsn, server_settings=settings)
                await listener.add_listener(_EVENTS_CHANNEL, self._notified)
                self._listener = listener

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        for waiter in self._waiters.get(str(payload), ()):
            waiter.set()

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> None:
        """Raise if the server cannot be reached (for /health)."""
        pool = await self._db()
        await pool.fetchval("SELECT 1")

    # -- responses ----------------------------------------------------------------------
    async def put(self, record: StoredResponse) -> None:
        body = self._checked_json(record)
        async with self._transaction() as conn:
            # A replace keeps `created`: eviction goes by first insert.
            await conn.execute(
                "INSERT INTO rg_responses (id, body, created, expires_at, owner, size) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET "
                "body = excluded.body, expires_at = excluded.expires_at, "
                "owner = excluded.owner, size = excluded.size",
                record.id, body, time.time(), record.expires_at, record.owner, len(body))
            ids = record.index_keys()
            if ids:
                await conn.execute(
                    "INSERT INTO rg_items (id, container) SELECT unnest($1::text[]), $2 "
                    "ON CONFLICT (id) DO UPDATE SET container = excluded.container",
                    ids, record.id)
            await self._bound(conn, record.owner, record.id)

    async def _bound(self, conn: Any, owner: str, keep: str) -> None:
        """Remove the owner's oldest records (never `keep`) until it is within bounds:
        responses by first write, conversations by last write."""
        row = await conn.fetchrow("SELECT entries, bytes FROM rg_owner_usage WHERE owner = $1",
                                  owner)
        if row is None:
            return
        entries, size = row["entries"], row["bytes"]
        if entries <= self.max_entries and size <= self.max_owner_bytes:
            return
        responses: list[str] = []
        conversations: list[str] = []
        async for victim in conn.cursor(  # read lazily: usually only a few rows are needed
                "SELECT 0 AS kind, id, size, created AS at, seq FROM rg_responses "
                "WHERE owner = $1 AND id <> $2 UNION ALL "
                "SELECT 1, id, size, written, 0 FROM rg_conversations "
                "WHERE owner = $1 AND id <> $2 ORDER BY at, seq", owner, keep):
            if entries <= self.max_entries and size <= self.max_owner_bytes:
                break
            (conversations if victim["kind"] else responses).append(victim["id"])
            entries -= 1
            size -= victim["size"]
        await _delete_responses(conn, responses)
        if conversations:
            await conn.execute("DELETE FROM rg_items WHERE container = ANY($1::text[])",
                               conversations)
            await conn.execute("DELETE FROM rg_conversations WHERE id = ANY($1::text[])",
                               conversations)

    async def get(self, response_id: str) -> StoredResponse | None:
        pool = await self._db()
        raw = await pool.fetchval(
            "SELECT body FROM rg_responses WHERE id = $1 AND expires_at >= $2",
            response_id, time.time())
        return None if raw is None else StoredResponse.from_json(raw)

    async def delete(self, response_id: str) -> bool:
        async with self._transaction() as conn:
            return await _delete_responses(conn, [response_id]) > 0

    async def locate_items(self, item_ids: list[str]) -> dict[str, str]:
        if not item_ids:
            return {}
        pool = await self._db()
        rows = await pool.fetch("SELECT id, container FROM rg_items WHERE id = ANY($1::text[])",
                                item_ids)
        return {row["id"]: row["container"] for row in rows}

    # -- stream events ------------------------------------------------------------------
    async def append_events(self, response_id: str, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        async with self._transaction() as conn:
            # Keyed by sequence number: re-appending an already logged event is a no-op.
            await conn.executemany(
                "INSERT INTO rg_events (response_id, seq, body) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                [(response_id, e["sequence_number"], orjson.dumps(e)) for e in events])
            await conn.execute("SELECT pg_notify($1, $2)", _EVENTS_CHANNEL, response_id)

    async def events_after(self, response_id: str, after: int) -> list[dict[str, Any]]:
        pool = await self._db()
        rows = await pool.fetch(
            "SELECT body FROM rg_events WHERE response_id = $1 AND seq > $2 ORDER BY seq",
            response_id, after)
        return [orjson.loads(row["body"]) for row in rows]

    async def wait_for_events(self, response_id: str, after: int, timeout: float) -> None:
        await self._listen()
        waiter = asyncio.Event()
        waiters = self._waiters.setdefault(response_id, set())
        waiters.add(waiter)
        try:
            # Checked after subscribing, so an append in between is not missed.
            pool = await self._db()
            if await pool.fetchval("SELECT 1 FROM rg_events WHERE response_id = $1 AND seq > $2 "
                                   "LIMIT 1", response_id, after) is None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(response_id, None)

    # -- cancellation -------------------------------------------------------------------
    async def request_cancel(self, response_id: str) -> None:
        pool = await self._db()
        await pool.execute(
            "INSERT INTO rg_cancels (response_id, at) VALUES ($1, $2) "
            "ON CONFLICT (response_id) DO UPDATE SET at = excluded.at", response_id, time.time())

    async def cancel_requested(self, response_id: str) -> bool:
        pool = await self._db()
        found = await pool.fetchval(
            "SELECT 1 FROM rg_cancels WHERE response_id = $1 AND at >= $2", response_id,
            time.time() - self.ttl)
        return found is not None

    # -- conversations ------------------------------------------------------------------
    async def put_conversation(self, conversation: Conversation) -> None:
        body = self._checked_json(conversation)
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO rg_conversations (id, body, expires_at, owner, size, written) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET "
                "body = excluded.body, expires_at = excluded.expires_at, "
                "owner = excluded.owner, size = excluded.size, written = excluded.written",
                conversation.id, body, conversation.expires_at, conversation.owner, len(body),
                time.time())
            await _index_conversation_items(conn, conversation.id, conversation.index_keys())
            await self._bound(conn, conversation.owner, conversation.id)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        pool = await self._db()
        raw = await pool.fetchval(
            "SELECT body FROM rg_conversations WHERE id = $1 AND expires_at >= $2",
            conversation_id, time.time())
        return None if raw is None else Conversation.from_json(raw)

    async def delete_conversation(self, conversation_id: str) -> bool:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM rg_items WHERE container = $1", conversation_id)
            status = await conn.execute("DELETE FROM rg_conversations WHERE id = $1",
                                        conversation_id)
            return bool(status != "DELETE 0")

    async def edit_conversation(self, conversation_id: str,
                                edit: Callable[[Conversation], None]) -> Conversation | None:
        async with self._transaction() as conn:
            # The row lock makes concurrent edits (from any replica) take turns.
            raw = await conn.fetchval(
                "SELECT body FROM rg_conversations WHERE id = $1 AND expires_at >= $2 "
                "FOR UPDATE", conversation_id, time.time())
            if raw is None:
                return None
            conversation = Conversation.from_json(raw)
            before = set(conversation.index_keys())
            edit(conversation)
            conversation.expires_at = self.expiry()
            body = self._checked_json(conversation)
            await conn.execute(
                "UPDATE rg_conversations SET body = $1, expires_at = $2, size = $3, "
                "written = $4 WHERE id = $5",
                body, conversation.expires_at, len(body), time.time(), conversation_id)
            await _index_conversation_items(conn, conversation_id, [
                i for i in conversation.index_keys() if i not in before])
            await self._bound(conn, conversation.owner, conversation_id)
            return conversation

    # -- housekeeping -------------------------------------------------------------------
    async def purge_expired(self) -> int:
        now = time.time()
        async with self._transaction() as conn:
            expired = [row["id"] for row in await conn.fetch(
                "SELECT id FROM rg_responses WHERE expires_at < $1", now)]
            removed = await _delete_responses(conn, expired)
            await conn.execute("DELETE FROM rg_cancels WHERE at < $1", now - self.ttl)
            await conn.execute("DELETE FROM rg_items WHERE container IN "
                               "(SELECT id FROM rg_conversations WHERE expires_at < $1)", now)
            await conn.execute("DELETE FROM rg_conversations WHERE expires_at < $1", now)
            # Events logged for a response deleted while it ran.
            await conn.execute("DELETE FROM rg_events e WHERE NOT EXISTS "
                               "(SELECT 1 FROM rg_responses r WHERE r.id = e.response_id)")
        return removed


async def _migrate(conn: Any) -> None:
    """Bring the schema to SCHEMA_VERSION, one version at a time, under an advisory lock."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
        await conn.execute("CREATE TABLE IF NOT EXISTS rg_schema (version INTEGER NOT NULL)")
        version = await conn.fetchval("SELECT max(version) FROM rg_schema") or 0
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"the PostgreSQL store has schema version {version}, newer than "
                               f"this gateway's {SCHEMA_VERSION}: upgrade the gateway")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[step]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO rg_schema (version) VALUES ($1)", step)


async def _index_conversation_items(conn: Any, conversation_id: str,
                                    item_ids: list[str]) -> None:
    # An item a response also holds stays indexed to the response.
    if item_ids:
        await conn.execute(
            "INSERT INTO rg_items (id, container) SELECT unnest($1::text[]), $2 "
            "ON CONFLICT (id) DO NOTHING", item_ids, conversation_id)


async def _delete_responses(conn: Any, ids: list[str]) -> int:
    """Delete responses with their events, cancel flags and index entries."""
    if not ids:
        return 0
    await conn.execute("DELETE FROM rg_events WHERE response_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM rg_cancels WHERE response_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM rg_items WHERE container = ANY($1::text[])", ids)
    status = await conn.execute("DELETE FROM rg_responses WHERE id = ANY($1::text[])", ids)
    return int(status.rsplit(" ", 1)[-1])
