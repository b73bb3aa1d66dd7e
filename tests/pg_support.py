"""A PostgreSQL database for one test session, shared by the store and e2e fixtures.

The server is RG_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/postgres, the
machine's trust-auth cluster). The database gets a unique name and is dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from typing import Callable, Iterator, NoReturn

ADMIN_URL = os.environ.get("RG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def session_database(prefix: str, unavailable: Callable[[str], NoReturn | None]
                     ) -> Iterator[str]:
    """Yield the URL of a new database named `prefix` + random hex; `unavailable(reason)`
    is called (it skips, or fails on CI) when asyncpg or the server is missing."""
    try:
        import asyncpg
    except ImportError:
        unavailable("asyncpg is not installed: pip install 'responses-gateway[postgres]'")
        raise
    name = f"{prefix}{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(f"no PostgreSQL reachable at {ADMIN_URL}: {exc}")
        raise
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def fresh_schema(database: str) -> str:
    """The URL of a schema nobody uses yet in `database` (the store makes it)."""
    return f"{database}?schema=s_{uuid.uuid4().hex[:10]}"
