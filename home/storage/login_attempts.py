"""The admin's login rate limit, counted where every worker that serves the admin can see it.

Piccolo Admin counts login attempts with a `RateLimitProvider`; its `InMemoryLimitProvider`
counts per process, so four workers would allow four times the limit, and which worker a
client reaches decides when it is blocked. `login_limit(config)` picks where the counts live:

- SQLite (one host): `SharedLoginLimit`, a small SQLite file that all workers on the host open
  (`LOGIN_RATE_STATE`);
- PostgreSQL (any number of hosts): `PostgresLoginLimit`, the `login_attempt` table of the
  service's database, so two hosts behind one proxy do not double the limit.

Each client address gets a fixed window that starts at its first attempt: more than `limit`
attempts inside it blocks the address for `block_duration` seconds. Counts survive a
restart of the service, so restarting does not hand a brute-forcer a fresh allowance.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from abc import abstractmethod
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from piccolo_api.rate_limiting.middleware import RateLimitError, RateLimitProvider

from home.settings import Settings

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_attempt (
    client TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    attempts INTEGER NOT NULL,
    blocked_until REAL NOT NULL
) WITHOUT ROWID
"""


class LoginLimitError(RuntimeError):
    """Where the counts live cannot be used; the message says what to change."""


class LoginLimit(RateLimitProvider):
    """Login attempts per client address in a fixed window; more than `limit` blocks."""

    def __init__(self, *, limit: int, timespan: int, block_duration: int | None = None):
        self.limit = limit
        self.timespan = timespan
        self.block_duration = timespan if block_duration is None else block_duration
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    @abstractmethod
    def increment(self, identifier: str) -> None:
        """Count one attempt by `identifier`; raise `RateLimitError` when it is over the limit."""

    @abstractmethod
    def attempts(self, identifier: str) -> int:
        """Attempts counted for `identifier` in its current window (0 when none)."""

    @abstractmethod
    def close(self) -> None:
        """Close what the provider opened."""


class SharedLoginLimit(LoginLimit):
    """Login attempts per client address, counted in a SQLite file shared across processes."""

    def __init__(self, path: Path, *, limit: int, timespan: int, block_duration: int | None = None):
        super().__init__(limit=limit, timespan=timespan, block_duration=block_duration)
        self.path = Path(path)
        self._connection = self._open()

    def _open(self) -> sqlite3.Connection:
        hint = "set LOGIN_RATE_STATE to a file in a directory this user can write"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_uid != os.getuid():
                raise LoginLimitError(
                    f"the login-attempt file {self.path} belongs to another user, who could "
                    f"reset the login rate limit: remove it, or {hint}"
                )
            connection = sqlite3.connect(
                self.path, timeout=5, isolation_level=None, check_same_thread=False
            )
            os.chmod(self.path, 0o600)
            # The default rollback journal: switching to WAL takes an exclusive lock that
            # workers opening a new file at the same moment would fail to get.
            connection.execute(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise LoginLimitError(
                f"cannot use the login-attempt file {self.path} ({error}): {hint}"
            ) from error
        return connection

    def increment(self, identifier: str) -> None:
        now = time.time()
        with self._lock, self._transaction() as connection:
            row = connection.execute(
                "SELECT window_start, attempts, blocked_until FROM login_attempt WHERE client = ?",
                (identifier,),
            ).fetchone()
            window_start, attempts, blocked_until = row or (now, 0, 0.0)
            if blocked_until <= now:
                if now - window_start >= self.timespan:
                    window_start, attempts = now, 0
                attempts += 1
                if attempts > self.limit:
                    blocked_until = now + self.block_duration
                connection.execute(
                    "INSERT OR REPLACE INTO login_attempt VALUES (?, ?, ?, ?)",
                    (identifier, window_start, attempts, blocked_until),
                )
            if now >= self._next_sweep:
                self._sweep(now)
        if blocked_until > now:
            raise RateLimitError()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: workers counting the same client take turns."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _sweep(self, now: float) -> None:
        """Forget clients whose window and block are both over (at most once a window)."""
        self._connection.execute(
            "DELETE FROM login_attempt WHERE window_start <= ? AND blocked_until <= ?",
            (now - self.timespan, now),
        )
        self._next_sweep = now + self.timespan

    def attempts(self, identifier: str) -> int:
        row = self._connection.execute(
            "SELECT window_start, attempts FROM login_attempt WHERE client = ?", (identifier,)
        ).fetchone()
        if row is None or time.time() - row[0] >= self.timespan:
            return 0
        return row[1]

    def close(self) -> None:
        self._connection.close()


# One statement decides the count, so hosts and workers counting the same client take turns
# on its row. The semantics are SharedLoginLimit's: a blocked client's row is left alone (no
# row comes back), a window that is over starts again at this attempt, and the attempt over
# the limit starts the block. Times and durations are in seconds.
_CLIENT, _NOW, _LIMIT, _WINDOW, _BLOCK = "$1", "$2::float8", "$3::int", "$4::float8", "$5::float8"
_WINDOW_OVER = f"{_NOW} - login_attempt.window_start >= {_WINDOW}"
_COUNTED = f"CASE WHEN {_WINDOW_OVER} THEN 1 ELSE login_attempt.attempts + 1 END"
COUNT_ATTEMPT = (
    "INSERT INTO login_attempt (client, window_start, attempts, blocked_until) "
    f"VALUES ({_CLIENT}, {_NOW}, 1, CASE WHEN 1 > {_LIMIT} THEN {_NOW} + {_BLOCK} ELSE 0 END) "
    "ON CONFLICT (client) DO UPDATE SET "
    f"window_start = CASE WHEN {_WINDOW_OVER} THEN {_NOW} ELSE login_attempt.window_start END, "
    f"attempts = {_COUNTED}, "
    f"blocked_until = CASE WHEN {_COUNTED} > {_LIMIT} THEN {_NOW} + {_BLOCK} "
    "ELSE login_attempt.blocked_until END "
    f"WHERE login_attempt.blocked_until <= {_NOW} "
    f"RETURNING blocked_until > {_NOW} AS blocked"
)
SWEEP = "DELETE FROM login_attempt WHERE window_start <= $1 AND blocked_until <= $2"
ATTEMPTS = "SELECT window_start, attempts FROM login_attempt WHERE client = $1"


class _LoopThread:
    """An event loop in a daemon thread of its own, for coroutines that sync code must wait for.

    The provider's caller is Piccolo Admin's middleware, on the worker's own event loop: it
    cannot await, and blocking that loop on a coroutine scheduled on it would never finish.
    """

    def __init__(self, name: str):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the thread's loop (started on first use) and return its result."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name=self.name, daemon=True
            )
            self._thread.start()
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    @property
    def running(self) -> bool:
        """Whether the loop's thread has been started (and not stopped)."""
        return self._loop is not None

    def stop(self) -> None:
        """Stop the loop and its thread (a later `run` starts them again)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None


class PostgresLoginLimit(LoginLimit):
    """Login attempts per client address, counted in the PostgreSQL database every host uses.

    Piccolo API calls `increment` synchronously (piccolo_api 1.11), so each worker runs the
    upsert on one asyncpg connection of its own, in a thread with its own event loop, and
    waits for it: one round trip, bounded by `timeout` seconds. The connection is opened on
    the first attempt (a worker starts even while the database is down) and opened again
    when the database dropped it. Times are the hosts' clocks, which NTP keeps within far less
    than a window of each other.
    """

    def __init__(
        self,
        dsn: str,
        *,
        limit: int,
        timespan: int,
        block_duration: int | None = None,
        timeout: float = 5.0,
    ):
        super().__init__(limit=limit, timespan=timespan, block_duration=block_duration)
        self.dsn = dsn
        self.timeout = timeout
        self._thread = _LoopThread("login-limit")
        self._connection: Any = None  # asyncpg's, used only on the thread's loop

    def increment(self, identifier: str) -> None:
        now = time.time()
        with self._lock:
            row = self._run(self._count, identifier, now)
        if row is None or row["blocked"]:
            raise RateLimitError()

    def attempts(self, identifier: str) -> int:
        with self._lock:
            row = self._run(self._attempts, identifier)
        if row is None or time.time() - row["window_start"] >= self.timespan:
            return 0
        return row["attempts"]

    def close(self) -> None:
        with self._lock:
            if self._thread.running:
                self._thread.run(self._disconnect())
                self._thread.stop()

    def _run(self, query: Any, *args: Any) -> Any:
        """`query(connection, *args)` on the thread's loop, within `timeout` seconds."""
        return self._thread.run(asyncio.wait_for(self._with_connection(query, *args), self.timeout))

    async def _with_connection(self, query: Any, *args: Any) -> Any:
        while True:
            if self._connection is not None and self._connection.is_closed():
                self._connection = None
            reused = self._connection is not None
            try:
                if self._connection is None:
                    self._connection = await asyncpg.connect(self.dsn, timeout=self.timeout)
                return await query(self._connection, *args)
            except asyncpg.UndefinedTableError as error:
                raise LoginLimitError(
                    "the database has no login_attempt table: run `piccolo migrations forwards all`"
                ) from error
            except BaseException as error:
                # Never reuse a connection that failed, or was cancelled mid-statement.
                await self._disconnect()
                # The database may have dropped the kept connection (a restart, an idle
                # timeout) in a way that shows only now: once more on a new one.
                if not (reused and isinstance(error, Exception)):
                    raise

    async def _count(self, connection: Any, identifier: str, now: float) -> Any:
        row = await connection.fetchrow(
            COUNT_ATTEMPT,
            identifier,
            now,
            self.limit,
            self.timespan,
            self.block_duration,
        )
        if now >= self._next_sweep:
            # Forget clients whose window and block are both over (at most once a window).
            await connection.execute(SWEEP, now - self.timespan, now)
            self._next_sweep = now + self.timespan
        return row

    async def _attempts(self, connection: Any, identifier: str) -> Any:
        return await connection.fetchrow(ATTEMPTS, identifier)

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()


def login_limit(config: Settings) -> LoginLimit:
    """The admin's login limit for `config`: a client over it is blocked for one window.

    On PostgreSQL the counts live in the database, shared by every host; on SQLite in the
    file every worker on this host opens (`LOGIN_RATE_STATE`).
    """
    if config.database_url:
        return PostgresLoginLimit(
            config.database_url,
            limit=config.login_rate_limit,
            timespan=config.login_rate_window,
            block_duration=config.login_rate_window,
            timeout=config.db_connect_timeout,
        )
    return SharedLoginLimit(
        config.login_attempts_path,
        limit=config.login_rate_limit,
        timespan=config.login_rate_window,
        block_duration=config.login_rate_window,
    )
