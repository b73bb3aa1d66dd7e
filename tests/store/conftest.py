"""Store test fixtures: one store factory per backend, a dedicated Redis test database
(RG_TEST_REDIS_URL, default db 13) and a PostgreSQL database made for the session
(on RG_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/postgres). Each Redis test
gets its own key prefix and each Postgres test its own schema, so concurrent test sessions do
not collide; the session deletes its keys and drops its database when it ends."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from pg_support import fresh_schema, session_database

from responses_gateway.store import ResponseStore

REDIS_URL = os.environ.get("RG_TEST_REDIS_URL",
                           os.environ.get("RG_TEST_REDIS", "redis://127.0.0.1:6379") + "/13")
SESSION_PREFIX = f"rg:test:{uuid.uuid4().hex[:12]}:"  # below it, one prefix per test
BACKENDS = ["memory", "sqlite", "redis", "postgres"]
StoreFactory = Callable[..., ResponseStore]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    """Skip locally; on CI a missing Redis or PostgreSQL is a failure, not a skip."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so the server is required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database made for this test session (dropped at the end): its URL."""
    with session_database("rg_test_", _unavailable) as database:
        yield database


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A URL with a fresh schema for one test's PostgresStores."""
    return fresh_schema(postgres_database)


@pytest.fixture(scope="session")
def redis_admin() -> Iterator[Any]:
    """A sync client on the test database; deletes this session's keys at the end."""
    try:
        import redis
    except ImportError:
        _unavailable("the redis package is not installed: pip install 'redis>=5'")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        _unavailable(f"no Redis reachable at {REDIS_URL}: {exc}")
    try:
        yield client
    finally:
        keys = list(client.scan_iter(match=f"{SESSION_PREFIX}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture
def redis_url(redis_admin: Any) -> str:
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_admin: Any) -> str:
    """A fresh key prefix (instead of the default `rg:`) for one test's RedisStores."""
    return f"{SESSION_PREFIX}{uuid.uuid4().hex[:8]}:"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreFactory:
    """Builds stores of one backend; sqlite and redis instances share one file / database.
    Call it inside the test's event loop and close what it returns."""
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")

    def factory(**kwargs: Any) -> ResponseStore:
        if backend == "memory":
            from responses_gateway.store.memory import MemoryStore

            return MemoryStore(**kwargs)
        if backend == "sqlite":
            from responses_gateway.store.sqlite import SqliteStore

            return SqliteStore(str(tmp_path / "data" / "store.db"), **kwargs)
        if backend == "postgres":
            from responses_gateway.store.postgres import PostgresStore

            return PostgresStore(url, **kwargs)
        from responses_gateway.store.redis import RedisStore

        return RedisStore(url, prefix=prefix, **kwargs)

    return factory
