"""Consistent reads for /fetch/: the data version and rows from one read snapshot.

The data version is `(epoch, version)` from the `roster_version` row, which database
triggers bump on every write to members or periods, whoever commits it. Checking it is
what keeps cached bodies fresh across processes:

- SQLite: a long-lived connection asks `PRAGMA data_version` (it changes whenever another
  connection commits, in any process) and reads the counter only when it changed.
- PostgreSQL: one primary-key read of the counter on the pool.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from home.db import engine
from home.settings import settings
from home.timefmt import parse_stored, to_stored

VERSION_SQL = "SELECT epoch, version FROM roster_version WHERE id = 1"
SQLITE_TIMEOUT = 30
IDLE_SQLITE_READERS = 4

# Tests set this to a list to see every statement the read path sends, on both engines.
statement_log: list[str] | None = None


@dataclass(frozen=True)
class DataVersion:
    """Which state of the roster a body was rendered from; equal versions mean equal data."""

    epoch: str
    number: int

    @property
    def token(self) -> str:
        """The version as it appears in ETags."""
        return f"{self.epoch}.{self.number}"


def _log(statement: str) -> None:
    if statement_log is not None:
        statement_log.append(statement)


def lower_each_character(text: str) -> str:
    """`text` lower-cased one character at a time, as PostgreSQL's lower() does."""
    if text.isascii():
        return text.lower()
    # Python's whole-string lower() applies final sigma (Σ to ς at a word's end) and turns
    # İ (U+0130) into two characters; PostgreSQL does neither.
    return "".join(map(_lower_character, text))


@lru_cache(maxsize=4096)
def _lower_character(character: str) -> str:
    return character.lower()[0]


def _lower(text: str | None) -> str | None:
    return None if text is None else lower_each_character(text)


def _utc(text: Any) -> Any:
    """A stored time in Piccolo's canonical UTC text, so that it compares as a time."""
    if not isinstance(text, str):
        return text
    try:
        return to_stored(parse_stored(text))
    except (ValueError, OverflowError):
        return text


def _sqlite_connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(
        path, timeout=SQLITE_TIMEOUT, check_same_thread=False, isolation_level=None
    )
    connection.execute("PRAGMA query_only = ON")
    # Unicode lower-casing, like PostgreSQL's lower(), for the case-insensitive name filter.
    connection.create_function("roster_lower", 1, _lower, deterministic=True)
    # Times written outside Piccolo (another offset, or none), for the since/until window.
    connection.create_function("roster_utc", 1, _utc, deterministic=True)
    connection.set_trace_callback(_log)
    return connection


def _missing_version_table(error: Exception) -> RuntimeError:
    return RuntimeError(
        f"cannot read the roster version ({error}); apply the migrations with "
        "`piccolo migrations forwards all`"
    )


class SQLiteReader:
    """Version checks on one long-lived connection; snapshots on a few pooled ones."""

    def __init__(self, path: str):
        self.path = path
        self._watch = _sqlite_connect(path)
        self._data_version: int | None = None
        self._version: DataVersion | None = None
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()

    def current_version(self) -> DataVersion:
        """The committed data version; a few microseconds when nothing changed."""
        # Read data_version first: a commit racing with this call is seen next time.
        (data_version,) = self._watch.execute("PRAGMA data_version").fetchone()
        if data_version != self._data_version or self._version is None:
            try:
                epoch, number = self._watch.execute(VERSION_SQL).fetchone()
            except sqlite3.OperationalError as error:
                raise _missing_version_table(error) from error
            self._version = DataVersion(epoch, number)
            self._data_version = data_version
        return self._version

    def _take(self) -> sqlite3.Connection:
        # Worker threads take connections concurrently: checking first could see one that
        # another thread pops before this one does.
        try:
            return self._idle.pop()
        except IndexError:
            return _sqlite_connect(self.path)

    def _give_back(self, connection: sqlite3.Connection) -> None:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        with self._idle_lock:
            keep = len(self._idle) < IDLE_SQLITE_READERS
            if keep:
                self._idle.append(connection)
        if not keep:
            connection.close()

    def _open(self, sql: str, params: Any) -> tuple[sqlite3.Connection, Any, DataVersion]:
        connection = self._take()
        try:
            connection.execute("BEGIN")
            # The first read fixes the snapshot: the version and the rows agree.
            epoch, number = connection.execute(VERSION_SQL).fetchone()
            cursor = connection.execute(sql, params)
        except BaseException:
            self._give_back(connection)
            raise
        return connection, cursor, DataVersion(epoch, number)

    @asynccontextmanager
    async def snapshot(self, sql: str, params: Any) -> AsyncIterator[Snapshot]:
        """Rows of `sql` and the data version, read in one transaction."""
        connection, cursor, version = await asyncio.to_thread(self._open, sql, params)
        try:
            yield Snapshot(version, lambda size: asyncio.to_thread(cursor.fetchmany, size))
        finally:
            self._give_back(connection)

    def close(self) -> None:
        """Close every connection this reader opened."""
        for connection in [self._watch, *self._idle]:
            connection.close()
        self._idle.clear()


class PostgresReader:
    """Version checks and snapshots on the engine's pool (or a new connection without one)."""

    def __init__(self, db: Any):
        self.db = db
        # A streamed body holds its connection until the client has read it all; leave at least
        # one pooled connection free for the version checks that every other request needs.
        self._snapshots = asyncio.Semaphore(max(1, settings.db_pool_size - 1))

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        pool = getattr(self.db, "pool", None)
        # Bounded waits: a busy pool answers 503 (TimeoutError) instead of hanging the request.
        timeout = settings.db_connect_timeout
        connection = await (
            pool.acquire(timeout=timeout) if pool is not None else self.db.get_new_connection()
        )
        logging = statement_log is not None
        if logging:
            connection.add_query_logger(_log_record)
        try:
            yield connection
        finally:
            if logging:
                connection.remove_query_logger(_log_record)
            if pool is not None:
                await pool.release(connection)
            else:
                await connection.close()

    async def current_version(self) -> DataVersion:
        """The committed data version: one primary-key read."""
        async with self._connection() as connection:
            row = await connection.fetchrow(VERSION_SQL)
        return DataVersion(row["epoch"], row["version"])

    @asynccontextmanager
    async def snapshot(self, sql: str, params: Sequence[Any]) -> AsyncIterator[Snapshot]:
        """Rows of `sql` and the data version, read in one repeatable-read transaction."""
        await asyncio.wait_for(self._snapshots.acquire(), settings.db_connect_timeout)
        try:
            async with self._read(sql, params) as snapshot:
                yield snapshot
        finally:
            self._snapshots.release()

    @asynccontextmanager
    async def _read(self, sql: str, params: Sequence[Any]) -> AsyncIterator[Snapshot]:
        async with self._connection() as connection:
            transaction = connection.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            try:
                # JIT compilation only delays the first rows of a streamed roster.
                await connection.execute("SET LOCAL jit = off")
                row = await connection.fetchrow(VERSION_SQL)
                _log(sql)  # asyncpg's query logger does not report cursors
                cursor = await connection.cursor(sql, *params)

                async def fetch(size: int) -> list[Any]:
                    return await cursor.fetch(size)

                yield Snapshot(DataVersion(row["epoch"], row["version"]), fetch)
            finally:
                await transaction.rollback()

    def close(self) -> None:
        """Nothing to close: the pool belongs to the engine."""


def _log_record(record: Any) -> None:
    _log(record.query)


@dataclass
class Snapshot:
    """An open read transaction: the version it saw and a way to fetch its rows in batches."""

    version: DataVersion
    fetch: Callable[[int], Any]


_reader: tuple[Any, SQLiteReader | PostgresReader] | None = None


def reader() -> SQLiteReader | PostgresReader:
    """The reader for the engine the tables are bound to (rebuilt if that engine changes)."""
    global _reader
    db = engine()
    if _reader is None or _reader[0] is not db:
        if _reader is not None:
            _reader[1].close()
        made = SQLiteReader(db.path) if db.engine_type == "sqlite" else PostgresReader(db)
        _reader = (db, made)
    return _reader[1]


async def current_version() -> DataVersion:
    """The committed data version of the bound database."""
    current = reader()
    if isinstance(current, SQLiteReader):
        return current.current_version()
    return await current.current_version()


def is_sqlite() -> bool:
    """True when the bound engine is SQLite."""
    return engine().engine_type == "sqlite"
