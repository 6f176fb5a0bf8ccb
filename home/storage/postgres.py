"""The PostgreSQL adapter: reads, writes, outages and SQL pieces of the production engine.

Reads and the version check run on the engine's asyncpg pool; the version check is one
primary-key read of `roster_version`, which a deferred trigger raises as each writing
transaction commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

from home.roster.timefmt import MONTHS, format_seed
from home.settings import Settings
from home.storage.base import (
    Adapter,
    AttemptRow,
    BatchWriter,
    ChangeRow,
    DataVersion,
    Dialect,
    MemberRow,
    Params,
    PeriodRow,
    Position,
    RelaySlot,
    Rule,
    Snapshot,
    SpanRow,
    StoredTimes,
    T,
    TimeScale,
)

# The database is down, restarting, unreachable or too slow: the request may succeed later.
UNAVAILABLE = (
    OSError,  # refused, reset or unreachable (ConnectionError is a subclass)
    TimeoutError,  # asyncpg connect or command timeout
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # e.g. "connection is closed" or the pool closing
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crashed
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    # The server answers but refuses this service: a missing database, a wrong user or
    # password. Not the client's fault, and fixed on the server side without a restart.
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
)


# The version. A position of the feed is (seq, id), where seq is the version its transaction
# took as it committed (writers take versions in commit order, under the version row's lock):
# a snapshot at version V holds every change numbered up to V and none after.
VERSION_SQL = "SELECT epoch, version FROM roster_version WHERE id = 1"
# Changes after a position, in commit order. A change's seq is written by its own commit, so
# nothing uncommitted or later-committing can sit before a position already read.
CHANGES_AFTER = (
    "SELECT c.seq, c.id, c.occurred_at, c.type, c.actor, c.data "
    "FROM roster_change AS c WHERE (c.seq, c.id) > ($1, $2) ORDER BY c.seq, c.id LIMIT $3"
)
# The last change older than the cutoff; it and every change before it are pruned.
PRUNE = (
    "WITH last AS (SELECT seq, id FROM roster_change WHERE occurred_at < $1 "
    "AND seq IS NOT NULL ORDER BY seq DESC, id DESC LIMIT 1), "
    "gone AS (DELETE FROM roster_change AS c USING last WHERE (c.seq, c.id) <= (last.seq, "
    "last.id) RETURNING 1), "
    "noted AS (UPDATE roster_change_pruned SET txid = last.seq, "
    "change_id = last.id FROM last WHERE roster_change_pruned.id = 1 RETURNING 1) "
    "SELECT (SELECT count(*) FROM gone) AS deleted, (SELECT count(*) FROM noted) AS noted"
)
BULK_CHANGE = (
    "INSERT INTO roster_change (type, actor, data) VALUES ('roster.bulk', "
    "coalesce(nullif(current_setting('roster.actor', true), ''), 'sql'), $1)"
)
LOG_ATTEMPTS = (
    "INSERT INTO webhook_attempt (endpoint, change_id, change_type, attempted_at, attempt, "
    "status_code, error, duration_ms, outcome) SELECT * FROM unnest($1::int[], $2::varchar[], "
    "$3::varchar[], $4::timestamptz[], $5::int[], $6::int[], $7::text[], $8::real[], "
    "$9::varchar[])"
)
FEED_CHANNEL = "roster_change"


def _after_version(version: int) -> tuple[int, int]:
    """The feed position just after every change of version `version` and before any later."""
    return (version + 1, 0)


# A lost LISTEN connection is made again after this long (the followers poll meanwhile).
LISTEN_RETRY_SECONDS = 1.0

# Constraint names of the rules (see the migrations).
RULES = {
    "activity_period_no_overlap": Rule.NO_OVERLAP,
    "activity_period_one_running": Rule.ONE_RUNNING,
    "ends_after_start": Rule.ENDS_AFTER_START,
    "api_key_name_key": Rule.UNIQUE_KEY_NAME,
    "activity_period_member_fkey": Rule.MEMBER_EXISTS,
    "activity_period_closed": Rule.CLOSED,
}
COUNT_REQUEST = (
    "INSERT INTO api_key_usage (key_id, window_start, requests) VALUES ($1, $2, 1) "
    "ON CONFLICT (key_id, window_start) DO UPDATE SET requests = api_key_usage.requests + 1 "
    "RETURNING requests, (SELECT active FROM api_key WHERE id = $1) AS active"
)
BULK_AUDIT = (
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "VALUES (now(), coalesce(nullif(current_setting('roster.actor', true), ''), 'sql'), "
    "'member', '*', 'bulk insert', NULL, $1)"
)


def engine_config(settings: Settings) -> dict[str, Any]:
    """asyncpg's arguments: all of `DATABASE_URL` (sslmode, sockets, ...) plus timeouts."""
    return {
        "dsn": settings.database_url,
        # Fail fast when the server is gone or unreachable instead of hanging a request.
        "timeout": settings.db_connect_timeout,
        "command_timeout": settings.db_command_timeout,
    }


def build_postgres_engine(settings: Settings) -> PostgresEngine:
    """Piccolo's engine for `DATABASE_URL`."""
    return PostgresEngine(config=engine_config(settings))


# The first key of the transaction-level advisory locks that queue writers of one member's
# periods (the second is a hash of the member's id).
MEMBER_PERIODS_LOCK = 0x524F5354  # "ROST"


class PostgresTimes(StoredTimes):
    """Times come back as aware datetimes, already in time order."""

    def to_datetime(self, value: datetime) -> datetime:
        return value

    def seed(self, value: datetime) -> str:
        return format_seed(value)

    def in_order(self, spans: list[Any]) -> list[Any]:
        return spans

    def periods(self, value: list[list[datetime]] | None) -> list[Any]:
        return value or []

    def seed_formatter(self) -> Callable[[datetime], str]:
        """asyncpg gives UTC datetimes: each day's text is worked out once per render."""
        days: dict[int, str] = {}

        def seed(value: datetime) -> str:
            if value.tzinfo is not UTC:
                return format_seed(value)
            day = value.toordinal()
            text = days.get(day)
            if text is None:
                text = days[day] = f"{MONTHS[value.month - 1]} {value.day:02d} {value.year:04d} "
            return f"{text}{value.hour:02d}:{value.minute:02d}"

        return seed


class PostgresDialect(Dialect):
    """Positional placeholders (`$1`), byte-order collation, native lower() and timestamptz."""

    def params(self) -> Params:
        return Params(lambda number, cast: f"${number}{'::' + cast if cast else ''}")

    def bound(self, params: Params) -> list[Any]:
        return params.values

    def name_order(self, column: str) -> str:
        return f'{column} COLLATE "C"'

    def contains_ignoring_case(self, column: str, params: Params, text: str) -> str:
        return f"strpos(lower({column}), lower({params.add(text)})) > 0"

    def time_compare(self, column: str, operator: str, params: Params, moment: datetime) -> str:
        return f"{column} {operator} {params.add(moment)}"

    def id_text(self, column: str) -> str:
        return f"{column}::text"

    scale = TimeScale(seconds_per_unit=1.0, unit_at_epoch=0.0)

    def instant(self, column: str) -> str:
        return f"extract(epoch FROM {column})::float8"

    def member_periods(self, member_id: str, conditions: str) -> str:
        # An array of [start, end] arrays (NULL for none), which asyncpg gives as lists.
        return (
            "(SELECT array_agg(ARRAY[p.start_time, p.end_time] "
            "ORDER BY p.start_time, p.end_time, p.id) "
            f"FROM activity_period AS p WHERE p.member = {member_id}{conditions})"
        )


async def _keep_session(_connection: Any) -> None:
    """Pool release without asyncpg's default `RESET ALL` round trip: the service keeps no
    session state (settings are `SET LOCAL`, cursors live in transactions), and asyncpg still
    rolls back an open transaction first."""


class PostgresAdapter(Adapter):
    """Version checks and snapshots on the engine's pool (or a new connection without one)."""

    name = "PostgreSQL"
    dialect = PostgresDialect()
    rule_texts = RULES
    times = PostgresTimes()

    def __init__(self, engine: Any, settings: Settings):
        super().__init__(engine, settings)
        # A streamed body holds its connection until the client has read it all; leave at least
        # one pooled connection free for the version checks that every other request needs.
        self._snapshots = asyncio.Semaphore(max(1, settings.db_pool_size - 1))
        self._opened_pool = False

    async def open(self) -> None:
        if self.engine.pool is not None:
            return  # someone else's pool (a test's), which stays theirs to close
        # No floor: asyncpg would log a traceback per failed refill while the server is down.
        await self.engine.start_connection_pool(
            min_size=0, max_size=self.settings.db_pool_size, reset=_keep_session
        )
        self._opened_pool = True

    async def close(self) -> None:
        """Close the pool `open` started."""
        if self._opened_pool and self.engine.pool is not None:
            await self.engine.close_connection_pool()
        self._opened_pool = False

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        pool = getattr(self.engine, "pool", None)
        # Bounded waits: a busy pool answers 503 (TimeoutError) instead of hanging the request.
        timeout = self.settings.db_connect_timeout
        connection = await (
            pool.acquire(timeout=timeout) if pool is not None else self.engine.get_new_connection()
        )
        logging = self.statement_log is not None
        if logging:
            connection.add_query_logger(self._log_record)
        try:
            yield connection
        finally:
            if logging:
                connection.remove_query_logger(self._log_record)
            if pool is not None:
                await pool.release(connection)
            else:
                await connection.close()

    def _log_record(self, record: Any) -> None:
        self.log_statement(record.query)

    async def current_version(self) -> DataVersion:
        """The committed data version: one primary-key read."""
        async with self._connection() as connection:
            row = await connection.fetchrow(VERSION_SQL)
        return DataVersion(row["epoch"], row["version"], _after_version(row["version"]))

    @asynccontextmanager
    async def snapshot(self, sql: str, params: Sequence[Any]) -> AsyncIterator[Snapshot]:
        """Rows of `sql` and the data version, read in one repeatable-read transaction."""
        await asyncio.wait_for(self._snapshots.acquire(), self.settings.db_connect_timeout)
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
                self.log_statement(sql)  # asyncpg's query logger does not report cursors
                cursor = await connection.cursor(sql, *params)

                async def fetch(size: int) -> list[Any]:
                    return await cursor.fetch(size)

                version = DataVersion(row["epoch"], row["version"], _after_version(row["version"]))
                yield Snapshot(version, fetch)
            finally:
                await transaction.rollback()

    async def read_all(
        self, statements: list[tuple[str, Any]]
    ) -> tuple[DataVersion, list[list[Any]]]:
        """Every row of each statement and the version, in one repeatable-read transaction."""
        async with (
            self._connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await connection.fetchrow(VERSION_SQL)
            results = [await connection.fetch(sql, *params) for sql, params in statements]
        return DataVersion(row["epoch"], row["version"], _after_version(row["version"])), results

    def write_transaction(self) -> Any:
        return self.engine.transaction()

    def batch_writer(self, connection: Any) -> BatchWriter:
        return PostgresBatchWriter(connection)

    async def _set_actor(self, actor: str) -> None:
        # Local to the transaction: it ends with it, committed or not.
        await self.engine.run_querystring(
            QueryString("SELECT set_config('roster.actor', {}, true)", actor)
        )

    async def lock_member_periods(self, member_id: str) -> None:
        # Concurrent inserts that conflict in the exclusion constraint each wait for the other's
        # index entry, a deadlock PostgreSQL ends after a second with an error instead of the
        # refusal. Writers of one member queue here first, so each checks committed rows only.
        await self.engine.run_querystring(
            QueryString(
                f"SELECT pg_advisory_xact_lock({MEMBER_PERIODS_LOCK}, hashtext({{}}))", member_id
            )
        )

    async def hold_period_writers(self) -> None:
        # SHARE conflicts with the ROW EXCLUSIVE lock of every insert, update and delete.
        await self.engine.run_ddl("LOCK TABLE activity_period IN SHARE MODE")

    def broken_rule(self, error: BaseException) -> Rule | None:
        if not isinstance(error, asyncpg.IntegrityConstraintViolationError):
            return None
        return RULES.get(getattr(error, "constraint_name", None) or "")

    async def _count(self, key_id: int, window: int) -> tuple[int, bool]:
        async with self._connection() as connection:
            row = await connection.fetchrow(COUNT_REQUEST, key_id, window)
        return row["requests"], bool(row["active"])

    @staticmethod
    def is_unavailable(error: BaseException) -> bool:
        return isinstance(error, UNAVAILABLE)

    # --- the change feed ---------------------------------------------------------------------

    async def changes_after(self, after: Position, limit: int) -> list[ChangeRow]:
        async with self._connection() as connection:
            rows = await connection.fetch(CHANGES_AFTER, after[0], after[1], limit)
        return [tuple(row) for row in rows]  # type: ignore[misc]

    async def changes_pruned(self) -> Position:
        async with self._connection() as connection:
            row = await connection.fetchrow(
                "SELECT txid, change_id FROM roster_change_pruned WHERE id = 1"
            )
        return (row["txid"], row["change_id"])

    async def prune_changes(self, before: datetime) -> int:
        async with self._connection() as connection:
            row = await connection.fetchrow(PRUNE, before)
        return row["deleted"]

    @asynccontextmanager
    async def watch_changes(self, notify: Callable[[], None]) -> AsyncIterator[None]:
        """LISTEN on a connection of its own: each writing statement's NOTIFY arrives as its
        transaction commits. A lost connection is made again; `notify` is called then too, in
        case a change came meanwhile."""

        def heard(*_args: Any) -> None:
            notify()

        async def listen() -> None:
            while True:
                try:
                    connection = await self.engine.get_new_connection()
                except Exception:
                    await asyncio.sleep(LISTEN_RETRY_SECONDS)
                    continue
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
                try:
                    await connection.add_listener(FEED_CHANNEL, heard)
                    notify()
                    await lost.wait()
                except Exception:
                    pass
                finally:
                    if not connection.is_closed():
                        await connection.close()
                await asyncio.sleep(LISTEN_RETRY_SECONDS)

        task = asyncio.create_task(listen())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def log_attempts(self, connection: Any, rows: list[AttemptRow]) -> None:
        await connection.execute(
            LOG_ATTEMPTS, *(list(column) for column in zip(*rows, strict=True))
        )

    @asynccontextmanager
    async def relay_slot(self) -> AsyncIterator[RelaySlot]:
        """Every process runs a relay: they share the endpoints by leases on their rows."""
        yield RelaySlot(held=True, only=False)

    def claimable(self, query: T) -> T:
        return query.lock_rows("UPDATE", skip_locked=True)  # type: ignore[attr-defined]


class PostgresBatchWriter(BatchWriter):
    """One INSERT ... SELECT FROM unnest(...) per batch (the statement trigger fires once)."""

    def __init__(self, connection: Any):
        self.connection = connection

    async def start(self, members: int) -> None:
        # The audit trigger skips each statement; finish() writes one entry for the run.
        await self.connection.execute("SELECT set_config('roster.audit_bulk', 'on', true)")

    async def write(self, members: list[MemberRow], spans: list[SpanRow]) -> None:
        await self.connection.execute(
            "INSERT INTO member (id, real_name, tz) "
            "SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[])",
            [row[0] for row in members],
            [row[1] for row in members],
            [row[2] for row in members],
        )
        if spans:
            await self.connection.execute(
                "INSERT INTO activity_period (member, start_time, end_time) "
                "SELECT member, to_timestamp(start_time), to_timestamp(end_time) "
                "FROM unnest($1::uuid[], $2::float8[], $3::float8[]) "
                "AS t(member, start_time, end_time)",
                [row[0] for row in spans],
                [row[1] for row in spans],
                [row[2] for row in spans],
            )

    async def write_periods(self, periods: list[PeriodRow]) -> None:
        await self.connection.execute(
            "INSERT INTO activity_period (id, member, start_time, end_time) "
            "SELECT coalesce(t.id, nextval(pg_get_serial_sequence('activity_period', 'id'))), "
            "t.member, to_timestamp(t.start_time), to_timestamp(t.end_time) "
            "FROM unnest($1::int[], $2::uuid[], $3::float8[], $4::float8[]) "
            "AS t(id, member, start_time, end_time)",
            [row[0] for row in periods],
            [row[1] for row in periods],
            [row[2] for row in periods],
            [row[3] for row in periods],
        )
        if any(row[0] is not None for row in periods):
            # Ids given: the sequence goes on after the largest, so the next period gets a new one.
            await self.connection.execute(
                "SELECT setval(pg_get_serial_sequence('activity_period', 'id'), "
                "greatest((SELECT max(id) FROM activity_period), 1))"
            )

    async def finish(self, summary: str) -> None:
        await self.connection.execute("SELECT set_config('roster.audit_bulk', 'off', true)")
        await self.connection.execute(BULK_AUDIT, summary)
        await self.connection.execute(BULK_CHANGE, summary)
        await self.connection.execute(f"NOTIFY {FEED_CHANNEL}")
