"""The usage log beside every store backend: counts add up per (hour, key, model), range and
key filters, the failure log keeps the latest FAILURES_KEPT, and old rows are dropped."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from responses_gateway.store.usage import (
    FAILURES_KEPT,
    KEEP_HOURS,
    MemoryUsage,
    UsageLog,
    UsageRow,
    open_usage_log,
)

REDIS = os.environ.get("RG_TEST_REDIS", "redis://127.0.0.1:6379") + "/13"


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], UsageLog]:
    kind = request.param
    if kind == "memory":
        return MemoryUsage
    if kind == "sqlite":
        return lambda: open_usage_log(f"sqlite:///{tmp_path / 'usage.db'}")
    if kind == "redis":
        request.getfixturevalue("redis_admin")  # skips (fails on CI) without Redis
        prefix = f"rg:test-usage:{uuid.uuid4().hex[:8]}:"
        return lambda: open_usage_log(REDIS, redis_prefix=prefix)
    url = request.getfixturevalue("postgres_url")  # skips (fails on CI) without PostgreSQL
    return lambda: open_usage_log(url)


def _run(make_log: Callable[[], UsageLog], body: Callable[[UsageLog], Any]) -> None:
    async def main() -> None:
        log = make_log()
        try:
            await body(log)
        finally:
            await log.close()

    asyncio.run(main())


def test_counts_add_up_and_filter(make_log: Callable[[], UsageLog]) -> None:
    hour = int(time.time() // 3600)

    async def body(log: UsageLog) -> None:
        await log.add([UsageRow(hour, "alice", "m1", 1, 0, 10, 5, 1, 2),
                       UsageRow(hour, "bob", "m1", 2, 1, 20, 0, 0, 0)], [])
        await log.add([UsageRow(hour, "alice", "m1", 1, 1, 10, 5, 0, 3),
                       UsageRow(hour - 5, "alice", "m2", 1, 0, 7, 7, 0, 0)], [])
        rows = await log.rows(hour - 24, hour + 1)
        got = {(r.hour, r.key, r.model): r.counts() for r in rows}
        assert got == {(hour, "alice", "m1"): (2, 1, 20, 10, 1, 5),
                       (hour, "bob", "m1"): (2, 1, 20, 0, 0, 0),
                       (hour - 5, "alice", "m2"): (1, 0, 7, 7, 0, 0)}
        assert [r.model for r in await log.rows(hour - 24, hour + 1, "alice")] == ["m2", "m1"]
        assert await log.rows(hour + 1, hour + 2) == []

    _run(make_log, body)


def test_failure_log_keeps_the_latest(make_log: Callable[[], UsageLog]) -> None:
    async def body(log: UsageLog) -> None:
        base = time.time()
        for batch in range(3):
            await log.add([], [{"at": base + batch * 100 + n, "request_id": f"req_{batch}_{n}",
                                "status": 500} for n in range(FAILURES_KEPT // 2)])
        latest = await log.failures()
        assert len(latest) == FAILURES_KEPT
        assert latest[0]["request_id"] == f"req_2_{FAILURES_KEPT // 2 - 1}"  # newest first
        assert all(not f["request_id"].startswith("req_0_") for f in latest)
        assert len(await log.failures(5)) == 5

    _run(make_log, body)


def test_rows_older_than_the_retention_are_dropped(make_log: Callable[[], UsageLog],
                                                  request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params["make_log"] in ("memory", "redis"):
        pytest.skip("memory lives as long as the process; Redis expires each hour's hash")
    hour = int(time.time() // 3600)

    async def body(log: UsageLog) -> None:
        await log.add([UsageRow(hour - KEEP_HOURS - 2, "old", "m", 1)], [])
        await log.add([UsageRow(hour, "new", "m", 1)], [])
        rows = await log.rows(hour - KEEP_HOURS - 10, hour + 1)
        assert [r.key for r in rows] == ["new"]

    _run(make_log, body)
