"""Usage accounting in the store: requests, errors and tokens per client key name, model and
hour, and the latest failed requests. It lives beside the responses (same URL, same backend:
a SQLite file, Redis, PostgreSQL or memory) so every replica reports to one place, but on
its own connection and in its own tables/keys, written in batches (see usage.py).

Rows older than KEEP_HOURS are dropped as new ones are added; the failure log keeps the
latest FAILURES_KEPT entries.
"""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import time
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["COUNTERS", "FAILURES_KEPT", "UsageLog", "UsageRow", "open_usage_log"]

KEEP_HOURS = 90 * 24
FAILURES_KEPT = 100
COUNTERS = ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens",
            "reasoning_tokens")


@dataclass(slots=True)
class UsageRow:
    """What one key did with one model in one hour (hour = Unix time // 3600)."""

    hour: int
    key: str
    model: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    def counts(self) -> tuple[int, ...]:
        return astuple(self)[3:]


class UsageLog(abc.ABC):
    """Adds up usage rows and keeps the latest failures."""

    @abc.abstractmethod
    async def add(self, rows: list[UsageRow], failures: list[dict[str, Any]]) -> None:
        """Add the rows' counts to what is stored for their (hour, key, model), and log
        the failures (each a JSON-able dict with an `at` time)."""

    @abc.abstractmethod
    async def rows(self, start_hour: int, end_hour: int,
                   key: str | None = None) -> list[UsageRow]:
        """Stored rows with start_hour <= hour < end_hour (of one key, if given)."""

    @abc.abstractmethod
    async def failures(self, limit: int = FAILURES_KEPT) -> list[dict[str, Any]]:
        """The latest failures, newest first."""

    async def close(self) -> None:
        """Release connections."""


def _oldest_kept() -> int:
    return int(time.time() // 3600) - KEEP_HOURS


class MemoryUsage(UsageLog):
    """In-process: for `--store memory` and `--store none` (this process's usage only)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[int, str, str], list[int]] = {}
        self._failures: list[dict[str, Any]] = []

    async def add(self, rows: list[UsageRow], failures: list[dict[str, Any]]) -> None:
        for row in rows:
            counts = self._rows.setdefault((row.hour, row.key, row.model), [0] * len(COUNTERS))
            for i, value in enumerate(row.counts()):
                counts[i] += value
        self._failures = (list(reversed(failures)) + self._failures)[:FAILURES_KEPT]

    async def rows(self, start_hour: int, end_hour: int,
                   key: str | None = None) -> list[UsageRow]:
        return [UsageRow(hour, name, model, *counts)
                for (hour, name, model), counts in sorted(self._rows.items())
                if start_hour <= hour < end_hour and (key is None or name == key)]

    async def failures(self, limit: int = FAILURES_KEPT) -> list[dict[str, Any]]:
        return [dict(f) for f in self._failures[:limit]]


_SQL_TABLES = (
    "CREATE TABLE IF NOT EXISTS rg_usage (hour BIGINT NOT NULL, key TEXT NOT NULL, "
    "model TEXT NOT NULL, requests BIGINT NOT NULL, errors BIGINT NOT NULL, "
    "input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, "
    "cached_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL, "
    "PRIMARY KEY (hour, key, model))",
    "CREATE TABLE IF NOT EXISTS rg_failures (at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS rg_failures_at ON rg_failures (at)",
)
_UPSERT = ("INSERT INTO rg_usage (hour, key, model, " + ", ".join(COUNTERS) + ") VALUES "
           "({marks}) ON CONFLICT (hour, key, model) DO UPDATE SET "
           + ", ".join(f"{c} = rg_usage.{c} + excluded.{c}" for c in COUNTERS))


class SqliteUsage(UsageLog):
    """In the store's SQLite file, on a connection of its own (a write every few seconds)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            for statement in _SQL_TABLES:
                conn.execute(statement)
            self._conn = conn
        return self._conn

    async def add(self, rows: list[UsageRow], failures: list[dict[str, Any]]) -> None:
        async with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_UPSERT.format(marks=", ".join("?" * 9)),
                               [astuple(row) for row in rows])
                db.executemany("INSERT INTO rg_failures (at, body) VALUES (?, ?)",
                               [(f["at"], orjson.dumps(f).decode()) for f in failures])
                if failures:
                    db.execute("DELETE FROM rg_failures WHERE at < (SELECT at FROM rg_failures "
                               "ORDER BY at DESC LIMIT 1 OFFSET ?)", (FAILURES_KEPT - 1,))
                db.execute("DELETE FROM rg_usage WHERE hour < ?", (_oldest_kept(),))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    async def rows(self, start_hour: int, end_hour: int,
                   key: str | None = None) -> list[UsageRow]:
        query = "SELECT * FROM rg_usage WHERE hour >= ? AND hour < ?"
        args: tuple[Any, ...] = (start_hour, end_hour)
        if key is not None:
            query, args = query + " AND key = ?", args + (key,)
        return [UsageRow(*row) for row in self._db().execute(query + " ORDER BY hour, key, model",
                                                             args)]

    async def failures(self, limit: int = FAILURES_KEPT) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT body FROM rg_failures ORDER BY at DESC LIMIT ?",
                                  (limit,))
        return [orjson.loads(body) for (body,) in rows]

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class RedisUsage(UsageLog):
    """A hash per hour (field `key\\x1fmodel\\x1fcounter`), and a capped list of failures."""

    def __init__(self, url: str, prefix: str = "rg:") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url, decode_responses=False,
                                              socket_connect_timeout=5, socket_timeout=30)
        self._prefix = prefix

    async def add(self, rows: list[UsageRow], failures: list[dict[str, Any]]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                hour_key = f"{self._prefix}usage:{row.hour}"
                for name, value in zip(COUNTERS, row.counts()):
                    if value:
                        pipe.hincrby(hour_key, f"{row.key}\x1f{row.model}\x1f{name}", value)
                pipe.expire(hour_key, KEEP_HOURS * 3600)
            if failures:
                pipe.lpush(f"{self._prefix}failures", *(orjson.dumps(f) for f in failures))
                pipe.ltrim(f"{self._prefix}failures", 0, FAILURES_KEPT - 1)
            await pipe.execute()

    async def rows(self, start_hour: int, end_hour: int,
                   key: str | None = None) -> list[UsageRow]:
        hours = list(range(start_hour, end_hour))
        async with self._redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(f"{self._prefix}usage:{hour}")
            tables = await pipe.execute()
        found: list[UsageRow] = []
        for hour, table in zip(hours, tables):
            by_pair: dict[tuple[str, str], UsageRow] = {}
            for field, value in table.items():
                name, model, counter = field.decode().split("\x1f")
                if key is not None and name != key:
                    continue
                row = by_pair.setdefault((name, model), UsageRow(hour, name, model))
                setattr(row, counter, int(value))
            found.extend(by_pair[pair] for pair in sorted(by_pair))
        return found

    async def failures(self, limit: int = FAILURES_KEPT) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(f"{self._prefix}failures", 0, limit - 1)
        return [orjson.loads(item) for item in raw]

    async def close(self) -> None:
        await self._redis.aclose()


class PostgresUsage(UsageLog):
    """The same tables as SQLite, in PostgreSQL, on a small pool of its own."""

    def __init__(self, url: str) -> None:
        from .urls import postgres_dsn

        self.dsn, self.schema = postgres_dsn(url)
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _db(self) -> Any:
        async with self._opening:
            if self._pool is None:
                import asyncpg

                settings = {"search_path": self.schema} if self.schema else {}
                pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=2,
                                                 server_settings=settings)
                async with pool.acquire() as conn:
                    if self.schema:
                        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                    for statement in _SQL_TABLES:
                        await conn.execute(statement)
                self._pool = pool
        return self._pool

    async def add(self, rows: list[UsageRow], failures: list[dict[str, Any]]) -> None:
        pool = await self._db()
        async with pool.acquire() as conn:
            async with conn.transaction():
                marks = ", ".join(f"${n}" for n in range(1, 10))
                await conn.executemany(_UPSERT.format(marks=marks),
                                       [astuple(row) for row in rows])
                await conn.executemany("INSERT INTO rg_failures (at, body) VALUES ($1, $2)",
                                       [(f["at"], orjson.dumps(f).decode()) for f in failures])
                if failures:
                    await conn.execute(
                        "DELETE FROM rg_failures WHERE at < (SELECT at FROM rg_failures "
                        "ORDER BY at DESC LIMIT 1 OFFSET $1)", FAILURES_KEPT - 1)
                await conn.execute("DELETE FROM rg_usage WHERE hour < $1", _oldest_kept())

    async def rows(self, start_hour: int, end_hour: int,
                   key: str | None = None) -> list[UsageRow]:
        pool = await self._db()
        query = "SELECT * FROM rg_usage WHERE hour >= $1 AND hour < $2"
        args: list[Any] = [start_hour, end_hour]
        if key is not None:
            query += " AND key = $3"
            args.append(key)
        records = await pool.fetch(query + " ORDER BY hour, key, model", *args)
        return [UsageRow(*tuple(record)) for record in records]

    async def failures(self, limit: int = FAILURES_KEPT) -> list[dict[str, Any]]:
        pool = await self._db()
        records = await pool.fetch("SELECT body FROM rg_failures ORDER BY at DESC LIMIT $1",
                                   limit)
        return [orjson.loads(record["body"]) for record in records]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def open_usage_log(store_url: str, *, redis_prefix: str = "rg:") -> UsageLog:
    """The usage log beside the store at `store_url` (in memory for `memory` / `none`)."""
    if store_url.startswith("sqlite:"):
        path = store_url.removeprefix("sqlite:").removeprefix("//")
        if path and path != ":memory:":
            return SqliteUsage(path)
    elif store_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisUsage(store_url, redis_prefix)
    elif store_url.startswith(("postgresql://", "postgres://")):
        return PostgresUsage(store_url)
    return MemoryUsage()
