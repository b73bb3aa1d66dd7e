"""Store test fixtures: one store factory per backend, and a dedicated Redis test database
(RG_TEST_REDIS_URL, default db 13). Each Redis test gets its own key prefix, so concurrent
test sessions on one Redis do not collide; the session deletes its keys when it ends."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from responses_gateway.store import ResponseStore

REDIS_URL = os.environ.get("RG_TEST_REDIS_URL",
                           os.environ.get("RG_TEST_REDIS", "redis://127.0.0.1:6379") + "/13")
SESSION_PREFIX = f"rg:test:{uuid.uuid4().hex[:12]}:"  # below it, one prefix per test
BACKENDS = ["memory", "sqlite", "redis"]
StoreFactory = Callable[..., ResponseStore]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    """Skip locally; on CI a missing Redis is a failure, not a skip."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so Redis is required)", pytrace=False)
    pytest.skip(reason)


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

    def factory(**kwargs: Any) -> ResponseStore:
        if backend == "memory":
            from responses_gateway.store.memory import MemoryStore

            return MemoryStore(**kwargs)
        if backend == "sqlite":
            from responses_gateway.store.sqlite import SqliteStore

            return SqliteStore(str(tmp_path / "data" / "store.db"), **kwargs)
        from responses_gateway.store.redis import RedisStore

        return RedisStore(url, prefix=prefix, **kwargs)

    return factory
