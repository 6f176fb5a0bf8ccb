"""The admin's login rate limit, shared by every worker process on the host.

Piccolo Admin counts login attempts with a `RateLimitProvider`; its `InMemoryLimitProvider`
counts per process, so `make serve` with four workers would allow four times the limit, and
which worker a client reaches decides when it is blocked. This provider keeps the counts in a
small SQLite file that all workers open (the roster's own database may be PostgreSQL, and
the provider's interface is synchronous, so it cannot use the async engine).

Each client address gets a fixed window that starts at its first attempt: more than `limit`
attempts inside it blocks the address for `block_duration` seconds. Counts survive a
restart of the service, so restarting does not hand a brute-forcer a fresh allowance.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from piccolo_api.rate_limiting.middleware import RateLimitError, RateLimitProvider

from home.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_attempt (
    client TEXT PRIMARY KEY,
    window_start REAL NOT NULL,
    attempts INTEGER NOT NULL,
    blocked_until REAL NOT NULL
) WITHOUT ROWID
"""


class LoginLimitError(RuntimeError):
    """The login-attempt file cannot be used; the message says what to change."""


class SharedLoginLimit(RateLimitProvider):
    """Login attempts per client address, counted in a SQLite file shared across processes."""

    def __init__(self, path: Path, *, limit: int, timespan: int, block_duration: int | None = None):
        self.path = Path(path)
        self.limit = limit
        self.timespan = timespan
        self.block_duration = timespan if block_duration is None else block_duration
        self._lock = threading.Lock()
        self._next_sweep = 0.0
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
        """Count one attempt by `identifier`; raise `RateLimitError` when it is over the limit."""
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
        """Attempts counted for `identifier` in its current window (0 when none)."""
        row = self._connection.execute(
            "SELECT window_start, attempts FROM login_attempt WHERE client = ?", (identifier,)
        ).fetchone()
        if row is None or time.time() - row[0] >= self.timespan:
            return 0
        return row[1]

    def close(self) -> None:
        self._connection.close()


def login_limit(config: Settings) -> SharedLoginLimit:
    """The admin's login limit for `config`: a client over it is blocked for one window."""
    return SharedLoginLimit(
        config.login_attempts_path,
        limit=config.login_rate_limit,
        timespan=config.login_rate_window,
        block_duration=config.login_rate_window,
    )
