"""The admin's login throttle: growing delays per account, per address and for all logins,
counted where every worker that serves the admin can see them.

Piccolo Admin's own limit (`RateLimitProvider`) sees only the client address: guesses spread
over many addresses are never slowed, and one address behind a shared NAT can lock everyone
there out with 20 tries. The admin mount (home/admin/mount.py) asks `LoginThrottle` instead,
with the username from the login's body. Each attempt counts under four keys:

- the account at this address (`LOGIN_PAIR_LIMIT` free attempts, 5);
- the account from anywhere (`LOGIN_ACCOUNT_LIMIT`, 10);
- the address, an IPv6 client's whole /64 (`LOGIN_RATE_LIMIT`, 20);
- every login to the service (`LOGIN_GLOBAL_LIMIT`, 300).

Past a key's free attempts, each further one must wait twice as long as the one before
(1 s, 2 s, 4 s ... up to `LOGIN_MAX_DELAY`): a delay, never a lockout that anyone could
trigger for someone else. An attempt that is refused is not counted, and a key's count is
forgotten after `LOGIN_RATE_WINDOW` seconds without an attempt. A successful login clears
the account's counts, gives back its place in the address's and the global count, and makes
the account known at that address for 30 days: a known pair is then only counted as a pair,
so an attacker slowing an account, an address or the whole service does not shut out the
people who log in from there every day.

Where the counts live (`login_throttle(config)`):
- SQLite (one host): `SharedLoginLimit`, a small SQLite file that all workers on the host open
  (`LOGIN_RATE_STATE`);
- PostgreSQL (any number of hosts): `PostgresLoginLimit`, the `login_throttle` table of the
  service's database, so two hosts behind one proxy do not double the allowance.
Each decision is one transaction over the keys' rows, locked in one order, so workers and
hosts counting the same keys take turns. Counts survive a restart.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from piccolo_api.rate_limiting.middleware import RateLimitProvider

from home.settings import Settings
from home.web.http import client_network

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS login_throttle (
    key TEXT PRIMARY KEY,
    last_attempt REAL NOT NULL,
    attempts INTEGER NOT NULL,
    blocked_until REAL NOT NULL
) WITHOUT ROWID
"""
# How long a successful login makes the account known at its address.
REMEMBER_SECONDS = 30 * 86_400
KNOWN = "known:"
GLOBAL_KEY = "all"


class LoginLimitError(RuntimeError):
    """Where the counts live cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Limit:
    """One key an attempt counts under: `free` attempts, then delays up to `cap` seconds."""

    key: str
    name: str  # what a refusal says is being slowed
    free: int
    cap: float


@dataclass(frozen=True)
class Refusal:
    """A login refused because `limit` asks the client to wait `retry_after` seconds."""

    limit: Limit
    retry_after: float

    @property
    def message(self) -> str:
        seconds = max(1, round(self.retry_after + 0.499))
        return (
            f"Too many login attempts {self.limit.name}: wait {seconds} "
            f"second{'s' if seconds != 1 else ''} before trying again"
        )


# A key's row: when it was last counted, how many attempts it holds, until when it waits.
Row = tuple[float, int, float]


@dataclass(frozen=True)
class Policy:
    """How many attempts each key allows before slowing down, and for how long."""

    pair_free: int = 5
    account_free: int = 10
    address_free: int = 20
    global_free: int = 300
    max_delay: float = 60.0
    window: float = 300.0

    @classmethod
    def of(cls, config: Settings) -> Policy:
        return cls(
            pair_free=config.login_pair_limit,
            account_free=config.login_account_limit,
            address_free=config.login_rate_limit,
            global_free=config.login_global_limit,
            max_delay=config.login_max_delay,
            window=config.login_rate_window,
        )

    def limits(self, username: str, address: str) -> list[Limit]:
        """The keys an attempt by `username` from `address` counts under."""
        network = client_network(address)
        return [
            Limit(
                f"pair:{network} {username}",
                "for this account from this address",
                self.pair_free,
                self.max_delay,
            ),
            Limit(f"user:{username}", "for this account", self.account_free, self.max_delay),
            Limit(f"addr:{network}", "from this address", self.address_free, self.max_delay),
            Limit(GLOBAL_KEY, "to this service", self.global_free, self.max_delay),
        ]

    def delay(self, limit: Limit, attempts: int) -> float:
        """How long after its `attempts`-th counted attempt the key must wait."""
        if attempts < limit.free:
            return 0.0
        return min(limit.cap, 2.0 ** min(attempts - limit.free, 32))


def known_key(username: str, address: str) -> str:
    return f"{KNOWN}{client_network(address)} {username}"


# A change to the locked rows: what to answer, and each key's new row (None deletes it).
Change = Callable[[dict[str, Row]], tuple[Any, dict[str, Row | None]]]


class LoginThrottle(ABC):
    """Decides whether a login may be tried now, and counts it; see the module docstring."""

    def __init__(self, policy: Policy, clock: Callable[[], float] = time.time):
        self.policy = policy
        self.clock = clock
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def attempt(self, username: str, address: str) -> Refusal | None:
        """Count an attempt by `username` from `address`, or say why it must wait (uncounted)."""
        now = self.clock()
        limits = self.policy.limits(username, address)
        known = known_key(username, address)

        def change(rows: dict[str, Row]) -> tuple[Refusal | None, dict[str, Row | None]]:
            marker = rows.get(known)
            counted = limits
            if marker is not None and now - marker[0] < REMEMBER_SECONDS:
                counted = limits[:1]  # a known pair is slowed only as a pair
            current = {limit.key: self._current(rows.get(limit.key), now) for limit in counted}
            waits = [
                Refusal(limit, current[limit.key][2] - now)
                for limit in counted
                if current[limit.key][2] > now
            ]
            if waits:
                return max(waits, key=lambda refusal: refusal.retry_after), {}
            updates: dict[str, Row | None] = {}
            for limit in counted:
                attempts = current[limit.key][1] + 1
                updates[limit.key] = (now, attempts, self._until(limit, attempts, now))
            return None, updates

        return self._change([limit.key for limit in limits] + [known], change, now)

    def succeeded(self, username: str, address: str) -> None:
        """The login by `username` from `address` succeeded: clear the account's counts, give
        back the attempt's place in the address's and the global count, remember the pair."""
        now = self.clock()
        pair, account, *shared = self.policy.limits(username, address)
        known = known_key(username, address)

        def change(rows: dict[str, Row]) -> tuple[None, dict[str, Row | None]]:
            updates: dict[str, Row | None] = {pair.key: None, account.key: None}
            for limit in shared:
                last, attempts, until = self._current(rows.get(limit.key), now)
                if attempts > 0:
                    attempts -= 1
                    until = min(until, self._until(limit, attempts, now))
                    updates[limit.key] = (last, attempts, until)
            updates[known] = (now, 0, 0.0)
            return None, updates

        self._change([pair.key, account.key, *(limit.key for limit in shared), known], change, now)

    def _until(self, limit: Limit, attempts: int, now: float) -> float:
        """Until when `limit`'s key waits after its `attempts`-th attempt (0: it does not)."""
        delay = self.policy.delay(limit, attempts)
        return now + delay if delay else 0.0

    def counted(self, key: str) -> int:
        """Attempts `key` holds now (0 once forgotten)."""
        rows = self._read([key])
        return self._current(rows.get(key), self.clock())[1]

    def _current(self, row: Row | None, now: float) -> Row:
        """`row` as it stands at `now`: forgotten after a window without attempts."""
        if row is None or (now - row[0] >= self.policy.window and row[2] <= now):
            return (now, 0, 0.0)
        return row

    def _change(self, keys: list[str], change: Change, now: float) -> Any:
        with self._lock:
            sweep = now >= self._next_sweep
            if sweep:
                self._next_sweep = now + self.policy.window
            return self._apply(sorted(set(keys)), change, now if sweep else None)

    def _sweep_bounds(self, now: float) -> tuple[float, float, float]:
        """Rows to forget: counts quiet for a window and not waiting, markers past 30 days."""
        return now - self.policy.window, now, now - REMEMBER_SECONDS

    @abstractmethod
    def _apply(self, keys: list[str], change: Change, sweep_at: float | None) -> Any:
        """Lock `keys`' rows, apply `change` to them in one transaction and return its answer;
        then, when `sweep_at` is given, forget old rows."""

    @abstractmethod
    def _read(self, keys: list[str]) -> dict[str, Row]:
        """The rows of `keys` that exist."""

    @abstractmethod
    def close(self) -> None:
        """Close what the throttle opened."""


SWEEP_SQLITE = (
    "DELETE FROM login_throttle WHERE (key NOT LIKE 'known:%' AND last_attempt <= ? "
    "AND blocked_until <= ?) OR (key LIKE 'known:%' AND last_attempt <= ?)"
)


class SharedLoginLimit(LoginThrottle):
    """The throttle's counts in a SQLite file shared by the workers of one host."""

    def __init__(self, path: Path, policy: Policy, clock: Callable[[], float] = time.time):
        super().__init__(policy, clock)
        self.path = Path(path)
        self._connection = self._open()

    def _open(self) -> sqlite3.Connection:
        hint = "set LOGIN_RATE_STATE to a file in a directory this user can write"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_uid != os.getuid():
                raise LoginLimitError(
                    f"the login-attempt file {self.path} belongs to another user, who could "
                    f"reset the login throttle: remove it, or {hint}"
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

    def _apply(self, keys: list[str], change: Change, sweep_at: float | None) -> Any:
        with self._transaction() as connection:
            rows = self._select(connection, keys)
            answer, updates = change(rows)
            for key, row in updates.items():
                if row is None:
                    connection.execute("DELETE FROM login_throttle WHERE key = ?", (key,))
                else:
                    connection.execute(
                        "INSERT OR REPLACE INTO login_throttle VALUES (?, ?, ?, ?)", (key, *row)
                    )
            if sweep_at is not None:
                connection.execute(SWEEP_SQLITE, self._sweep_bounds(sweep_at))
        return answer

    def _read(self, keys: list[str]) -> dict[str, Row]:
        with self._lock:
            return self._select(self._connection, keys)

    @staticmethod
    def _select(connection: sqlite3.Connection, keys: list[str]) -> dict[str, Row]:
        marks = ",".join("?" * len(keys))
        return {
            key: (last, attempts, until)
            for key, last, attempts, until in connection.execute(
                f"SELECT key, last_attempt, attempts, blocked_until FROM login_throttle "
                f"WHERE key IN ({marks})",
                keys,
            )
        }

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: workers counting the same keys take turns."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()


# Missing rows are made first, so that every key has a row to lock; locked in key order, so
# two attempts sharing keys never wait for each other in a circle.
PG_MAKE = (
    "INSERT INTO login_throttle (key, last_attempt, attempts, blocked_until) "
    "SELECT unnest($1::text[]), 0, 0, 0 ON CONFLICT (key) DO NOTHING"
)
PG_LOCK = (
    "SELECT key, last_attempt, attempts, blocked_until FROM login_throttle "
    "WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE"
)
PG_READ = (
    "SELECT key, last_attempt, attempts, blocked_until FROM login_throttle "
    "WHERE key = ANY($1::text[])"
)
# An upsert: a row cleared by a login that succeeded meanwhile is written again, not lost.
PG_WRITE = (
    "INSERT INTO login_throttle (key, last_attempt, attempts, blocked_until) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET last_attempt = $2, "
    "attempts = $3, blocked_until = $4"
)
PG_DELETE = "DELETE FROM login_throttle WHERE key = ANY($1::text[])"
PG_SWEEP = (
    "DELETE FROM login_throttle WHERE (key NOT LIKE 'known:%' AND last_attempt <= $1 "
    "AND blocked_until <= $2) OR (key LIKE 'known:%' AND last_attempt <= $3)"
)


class _LoopThread:
    """An event loop in a daemon thread of its own, for coroutines that sync code must wait for.

    The throttle is called from worker threads (`asyncio.to_thread`), so its connection lives
    on a loop of its own rather than on any worker's.
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


class PostgresLoginLimit(LoginThrottle):
    """The throttle's counts in the PostgreSQL database every host uses.

    Each worker runs its transactions on one asyncpg connection of its own, in a thread with
    its own event loop, bounded by `timeout` seconds. The connection is opened on the first
    attempt (a worker starts even while the database is down) and opened again when the
    database dropped it. Times are the hosts' clocks, which NTP keeps within far less than a
    delay of each other.
    """

    def __init__(
        self,
        dsn: str,
        policy: Policy,
        clock: Callable[[], float] = time.time,
        *,
        timeout: float = 5.0,
    ):
        super().__init__(policy, clock)
        self.dsn = dsn
        self.timeout = timeout
        self._thread = _LoopThread("login-throttle")
        self._connection: Any = None  # asyncpg's, used only on the thread's loop

    def _apply(self, keys: list[str], change: Change, sweep_at: float | None) -> Any:
        async def apply(connection: Any) -> Any:
            async with connection.transaction():
                await connection.execute(PG_MAKE, keys)
                rows = {
                    row["key"]: (row["last_attempt"], row["attempts"], row["blocked_until"])
                    for row in await connection.fetch(PG_LOCK, keys)
                    if row["attempts"] or row["last_attempt"]  # not a row made just now
                }
                answer, updates = change(rows)
                deleted = [key for key, row in updates.items() if row is None]
                written = [(key, *row) for key, row in updates.items() if row is not None]
                if written:
                    await connection.executemany(PG_WRITE, written)
                # Rows made only to be locked, and rows cleared, go again.
                unused = [key for key in keys if key not in rows and key not in updates]
                if deleted or unused:
                    await connection.execute(PG_DELETE, deleted + unused)
                if sweep_at is not None:
                    await connection.execute(PG_SWEEP, *self._sweep_bounds(sweep_at))
            return answer

        return self._run(apply)

    def _read(self, keys: list[str]) -> dict[str, Row]:
        async def read(connection: Any) -> dict[str, Row]:
            return {
                row["key"]: (row["last_attempt"], row["attempts"], row["blocked_until"])
                for row in await connection.fetch(PG_READ, keys)
            }

        with self._lock:
            return self._run(read)

    def close(self) -> None:
        with self._lock:
            if self._thread.running:
                self._thread.run(self._disconnect())
                self._thread.stop()

    def _run(self, query: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        """`query(connection)` on the thread's loop, within `timeout` seconds."""
        return self._thread.run(asyncio.wait_for(self._with_connection(query), self.timeout))

    async def _with_connection(self, query: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
        while True:
            if self._connection is not None and self._connection.is_closed():
                self._connection = None
            reused = self._connection is not None
            try:
                if self._connection is None:
                    self._connection = await asyncpg.connect(self.dsn, timeout=self.timeout)
                return await query(self._connection)
            except asyncpg.UndefinedTableError as error:
                raise LoginLimitError(
                    "the database has no login_throttle table: run "
                    "`piccolo migrations forwards all`"
                ) from error
            except BaseException as error:
                # Never reuse a connection that failed, or was cancelled mid-statement.
                await self._disconnect()
                # The database may have dropped the kept connection (a restart, an idle
                # timeout) in a way that shows only now: once more on a new one.
                if not (reused and isinstance(error, Exception)):
                    raise

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()


class NoLimit(RateLimitProvider):
    """Piccolo Admin's own per-address limit, turned off: `LoginThrottle` decides instead."""

    def increment(self, identifier: str) -> None:
        return None


def login_throttle(config: Settings, clock: Callable[[], float] = time.time) -> LoginThrottle:
    """The admin's login throttle for `config`.

    On PostgreSQL the counts live in the database, shared by every host; on SQLite in the
    file every worker on this host opens (`LOGIN_RATE_STATE`).
    """
    policy = Policy.of(config)
    if config.database_url:
        return PostgresLoginLimit(
            config.database_url, policy, clock, timeout=config.db_connect_timeout
        )
    return SharedLoginLimit(config.login_attempts_path, policy, clock)
