"""What sessions of the test's own PostgreSQL database are waiting for, polled to a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

# Only this database's sessions: other test sessions may share the server.
WAITING = (
    "SELECT l.locktype FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
    "WHERE NOT l.granted AND a.datname = current_database()"
)


async def lock_waits(
    run: Callable[[str], Awaitable[list[Any]]], count: int = 1, within: float = 20
) -> list[str]:
    """The lock types sessions of this database wait for, sorted, once `count` of them wait.

    `run` runs SQL and returns rows (`engine.run_ddl`, or an asyncpg connection's `fetch`).
    """
    deadline = time.monotonic() + within
    while len(rows := await run(WAITING)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} lock waits expected within {within} s, saw {rows}")
        await asyncio.sleep(0.02)
    return sorted(row["locktype"] for row in rows)
