"""The SQLite adapter: reads, writes, outages and SQL pieces of the embedded engine.

Reads use the `sqlite3` module directly (in worker threads): a long-lived connection answers
the version check with `PRAGMA data_version`, which changes whenever another connection
commits, in any process, so the counter row is read only after a commit (about 5 µs
otherwise). Snapshots come from a few pooled read-only connections.

Times are stored as text. Piccolo writes `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`, whose text
order is time order; raw SQL may write other offsets, which `roster_utc` (registered on every
read connection, beside the SQL that calls it) turns into that form before comparing.
"""

from __future__ import annotations

import asyncio
import fcntl
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import msgspec
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from home.roster.timefmt import (
    FULLTHROTTLE_CLOCK,
    MONTHS,
    ZoneHours,
    format_fullthrottle,
    format_seed,
)
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
    UnusualTime,
)
from home.storage.sqlite_engine import SQLITE_BUSY_TIMEOUT

IDLE_READERS = 4
# The version, and the feed's position with it: writers take turns, so the last change id
# given out is exact (AUTOINCREMENT keeps it in sqlite_sequence, pruned rows or not).
VERSION_SQL = (
    "SELECT epoch, version, "
    "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'roster_change'), 0) "
    "FROM roster_version WHERE id = 1"
)
CHANGES_AFTER = (
    "SELECT 0, id, occurred_at, type, actor, data FROM roster_change WHERE id > ? "
    "ORDER BY id LIMIT ?"
)
LOG_ATTEMPTS = (
    "INSERT INTO webhook_attempt (endpoint, change_id, change_type, attempted_at, attempt, "
    "status_code, error, duration_ms, outcome) SELECT "
    + ", ".join(f"json_extract(value, '$[{n}]')" for n in range(9))
    + " FROM json_each(?)"
)
# How often the feed's watcher looks for another connection's commit (PRAGMA data_version:
# microseconds when nothing changed).
WATCH_SECONDS = 0.05
# Words in sqlite3.OperationalError messages that mean "try again later", not a bug.
UNAVAILABLE = ("database is locked", "unable to open", "disk i/o error", "busy")
# sqlite3.IntegrityError messages of the rules (the overlap trigger raises its own name).
RULES = {
    "activity_period_no_overlap": Rule.NO_OVERLAP,
    "UNIQUE constraint failed: activity_period.member": Rule.ONE_RUNNING,
    "CHECK constraint failed: ends_after_start": Rule.ENDS_AFTER_START,
    "UNIQUE constraint failed: api_key.name": Rule.UNIQUE_KEY_NAME,
    "FOREIGN KEY constraint failed": Rule.MEMBER_EXISTS,
    "activity_period_closed": Rule.CLOSED,
}
COUNT_REQUEST = (
    "INSERT INTO api_key_usage (key_id, window_start, requests) SELECT {}, {}, 1 "
    "WHERE EXISTS (SELECT 1 FROM api_key WHERE id = {}) "
    "ON CONFLICT (key_id, window_start) DO UPDATE SET requests = requests + 1 "
    "RETURNING requests, (SELECT active FROM api_key WHERE id = {}) AS active"
)


# --- stored times ------------------------------------------------------------------------


def parse_stored(text: str) -> datetime:
    """A stored time (`2020-06-20 14:29:00+00:00`, or any ISO offset), aware and in UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def is_canonical(text: str) -> bool:
    """True for Piccolo's UTC form, whose text order is time order."""
    return text.endswith("+00:00") and len(text) in (25, 32) and text[10] == " "


def to_stored(moment: datetime) -> str:
    """How Piccolo stores an aware time: UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`."""
    return str(moment.astimezone(UTC))


class SQLiteTimes(StoredTimes):
    """Times come back as the stored text."""

    def to_datetime(self, value: str) -> datetime:
        return parse_stored(value)

    def fullthrottle(self, value: str, hours: ZoneHours) -> str:
        # Piccolo's form is read from its text; anything else takes the slow path.
        written = hours.written_text(value)
        if written is None:
            return format_fullthrottle(parse_stored(value), hours.zone)
        return written

    def seed(self, value: str) -> str:
        # Piccolo's form is sliced directly; anything else takes the slow path.
        if is_canonical(value):
            return f"{MONTHS[int(value[5:7]) - 1]} {value[8:10]} {value[0:4]} {value[11:16]}"
        return format_seed(parse_stored(value))

    def in_order(self, spans: list[Any]) -> list[Any]:
        if all(is_canonical(start) for start, _ in spans):
            return spans
        return sorted(spans, key=lambda span: parse_stored(span[0]))

    def periods(self, value: str) -> list[Any]:
        return _decode(value)

    def seed_periods(self, make: Callable[[str, str], T]) -> Callable[[str], list[T]]:
        """Slices Piccolo's form (`YYYY-MM-DD HH:MM:SS+00:00`) with each day's text worked out
        once per render: a roster of 100,000 members spans a few dozen days, so a dict lookup
        and two slices replace a parse per time, and no call is made per time."""
        days = _SeedDays()

        def periods(value: str) -> list[T]:
            pairs = _decode(value)
            try:
                made = [
                    make(days[start[:11]] + start[11:16], days[end[:11]] + end[11:16])
                    for start, end in pairs
                    # Whole seconds in UTC (the cheap test), or with microseconds.
                    if start[19:] == end[19:] == "+00:00"
                    or (is_canonical(start) and is_canonical(end))
                ]
            except (TypeError, AttributeError):  # not text: SQLite keeps what raw SQL gave it
                raise UnusualTime(value) from None
            if len(made) != len(pairs):
                raise UnusualTime(value)
            return made

        return periods

    def fullthrottle_periods(
        self, make: Callable[[str, str], T]
    ) -> Callable[[str, ZoneHours], list[T]]:
        """Reads Piccolo's form from its text, each (zone, UTC hour) worked out once
        (`ZoneHours`): a dict lookup, a slice and a table of minute texts per time, and no call
        made per time."""
        clock, minutes = FULLTHROTTLE_CLOCK, _MINUTES

        def periods(value: str, hours: ZoneHours) -> list[T]:
            pairs = _decode(value)
            by_text = hours.by_text
            try:
                # Each time: its hour's entry (f, l), its local minute of day (b, e), then
                # the day's text and the minute's; past midnight, the next day's.
                made = [
                    make(
                        f[0] + clock[b] if b < 1440 else f[1] + clock[b - 1440],
                        g[0] + clock[e] if e < 1440 else g[1] + clock[e - 1440],
                    )
                    for start, end in pairs
                    # Whole seconds in UTC (the cheap test), or with microseconds.
                    if start[19:] == end[19:] == "+00:00"
                    or (is_canonical(start) and is_canonical(end))
                    for f, g in ((by_text[start[:13]], by_text[end[:13]]),)
                    for b, e in ((f[2] + minutes[start[14:16]], g[2] + minutes[end[14:16]]),)
                ]
            except (TypeError, AttributeError, KeyError):  # None: the slow path; raw SQL's
                raise UnusualTime(value) from None
            if len(made) != len(pairs):
                raise UnusualTime(value)
            return made

        return periods


_decode = msgspec.json.Decoder().decode
_MINUTES = {f"{minute:02d}": minute for minute in range(60)}


class _SeedDays(dict[str, str]):
    """Each day's seed text (`June 05 2020 `) by the stored prefix `2020-06-05 `, worked out
    on first use; any other prefix is an `UnusualTime`."""

    def __missing__(self, prefix: str) -> str:
        month = int(prefix[5:7]) if _DAY_PREFIX.fullmatch(prefix) else 0
        if not 1 <= month <= 12:
            raise UnusualTime(prefix)
        text = self[prefix] = f"{MONTHS[month - 1]} {prefix[8:10]} {prefix[0:4]} "
        return text


_DAY_PREFIX = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2} ")


# --- SQL pieces, and the functions they call --------------------------------------------


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


def roster_lower(text: str | None) -> str | None:
    """SQL function: lower() as PostgreSQL does it (SQLite's own lowers ASCII only)."""
    return None if text is None else lower_each_character(text)


def roster_utc(text: Any) -> Any:
    """SQL function: a stored time in Piccolo's UTC form, so that it compares as a time."""
    if not isinstance(text, str):
        return text
    try:
        return to_stored(parse_stored(text))
    except (ValueError, OverflowError):
        return text


FUNCTIONS = {"roster_lower": roster_lower, "roster_utc": roster_utc}


class SQLiteDialect(Dialect):
    """Named placeholders (`:p1`), Unicode lower-casing and time text through functions."""

    def params(self) -> Params:
        return Params(lambda number, _cast: f":p{number}")

    def bound(self, params: Params) -> dict[str, Any]:
        return {f"p{number}": value for number, value in enumerate(params.values, 1)}

    def name_order(self, column: str) -> str:
        return column  # SQLite compares text in byte order (BINARY) unless told otherwise

    def contains_ignoring_case(self, column: str, params: Params, text: str) -> str:
        return f"instr(roster_lower({column}), {params.add(lower_each_character(text))}) > 0"

    def time_compare(self, column: str, operator: str, params: Params, moment: datetime) -> str:
        # Piccolo's form compares as it is, in plain SQL; a time that raw SQL wrote with another
        # offset, or none (UTC), goes through roster_utc first. GLOB is the cheapest exact test.
        stored = (
            f"CASE WHEN {column} GLOB '????-??-?? ??:??:??+00:00' "
            f"OR {column} GLOB '????-??-?? ??:??:??.??????+00:00' "
            f"THEN {column} ELSE roster_utc({column}) END"
        )
        return f"{stored} {operator} {params.add(to_stored(moment))}"

    def id_text(self, column: str) -> str:
        return column  # stored as text already

    # Julian days: julianday() reads any UTC offset, and arithmetic on it in SQL would cost
    # more than the call itself.
    scale = TimeScale(seconds_per_unit=86_400.0, unit_at_epoch=2_440_587.5)

    def instant(self, column: str) -> str:
        return f"julianday({column})"

    def member_periods(self, member_id: str, conditions: str) -> str:
        # A JSON array of [start, end] pairs ('[]' for none). The index on (member,
        # start_time, end_time) gives the order, which SQLite keeps for the aggregate: it
        # never flattens an ordered subquery into an aggregate query.
        return (
            "(SELECT json_group_array(json_array(start_time, end_time)) FROM "
            "(SELECT p.start_time, p.end_time FROM activity_period AS p "
            f"WHERE p.member = {member_id}{conditions} "
            "ORDER BY p.start_time, p.end_time, p.id))"
        )


# --- reads -------------------------------------------------------------------------------


class SQLiteAdapter(Adapter):
    """Version checks on one long-lived connection; snapshots on a few pooled ones."""

    name = "SQLite"
    dialect = SQLiteDialect()
    rule_texts = RULES
    times = SQLiteTimes()

    def __init__(self, engine: Any, settings: Any):
        super().__init__(engine, settings)
        self.path = engine.path
        self._watch: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._version: DataVersion | None = None
        self._idle: list[sqlite3.Connection] = []
        self._idle_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=SQLITE_BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
        )
        connection.execute("PRAGMA query_only = ON")
        for name, function in FUNCTIONS.items():
            connection.create_function(name, 1, function, deterministic=True)
        connection.set_trace_callback(self.log_statement)
        return connection

    async def current_version(self) -> DataVersion:
        """The committed data version; a few microseconds when nothing changed."""
        if self._watch is None:
            self._watch = self._connect()
        # Read data_version first: a commit racing with this call is seen next time.
        (data_version,) = self._watch.execute("PRAGMA data_version").fetchone()
        if data_version != self._data_version or self._version is None:
            try:
                epoch, number, last = self._watch.execute(VERSION_SQL).fetchone()
            except sqlite3.OperationalError as error:
                raise RuntimeError(
                    f"cannot read the roster version ({error}); apply the migrations with "
                    "`piccolo migrations forwards all`"
                ) from error
            self._version = DataVersion(epoch, number, (0, last))
            self._data_version = data_version
        return self._version

    def _take(self) -> sqlite3.Connection:
        # Worker threads take connections concurrently: checking first could see one that
        # another thread pops before this one does.
        try:
            return self._idle.pop()
        except IndexError:
            return self._connect()

    def _give_back(self, connection: sqlite3.Connection) -> None:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        with self._idle_lock:
            keep = len(self._idle) < IDLE_READERS
            if keep:
                self._idle.append(connection)
        if not keep:
            connection.close()

    def _open(self, sql: str, params: Any) -> tuple[sqlite3.Connection, Any, DataVersion]:
        connection = self._take()
        try:
            connection.execute("BEGIN")
            # The first read fixes the snapshot: the version and the rows agree.
            epoch, number, last = connection.execute(VERSION_SQL).fetchone()
            cursor = connection.execute(sql, params)
        except BaseException:
            self._give_back(connection)
            raise
        return connection, cursor, DataVersion(epoch, number, (0, last))

    @asynccontextmanager
    async def snapshot(self, sql: str, params: Any) -> AsyncIterator[Snapshot]:
        """Rows of `sql` and the data version, read in one transaction."""
        connection, cursor, version = await asyncio.to_thread(self._open, sql, params)
        try:
            yield Snapshot(version, lambda size: asyncio.to_thread(cursor.fetchmany, size))
        finally:
            self._give_back(connection)

    def _read_all(self, statements: list[tuple[str, Any]]) -> tuple[DataVersion, list[list[Any]]]:
        connection = self._take()
        try:
            connection.execute("BEGIN")
            epoch, number, last = connection.execute(VERSION_SQL).fetchone()
            results = [connection.execute(sql, params).fetchall() for sql, params in statements]
        finally:
            self._give_back(connection)
        return DataVersion(epoch, number, (0, last)), results

    async def read_all(
        self, statements: list[tuple[str, Any]]
    ) -> tuple[DataVersion, list[list[Any]]]:
        """Every row of each statement and the version, in one transaction (a worker thread)."""
        return await asyncio.to_thread(self._read_all, statements)

    async def open(self) -> None:
        """Nothing to open: connections are made on first use."""

    async def close(self) -> None:
        """Close every connection this adapter opened."""
        for connection in [*([self._watch] if self._watch else []), *self._idle]:
            connection.close()
        self._watch = None
        self._idle.clear()

    # --- writes ----------------------------------------------------------------------------

    def write_transaction(self) -> Any:
        """IMMEDIATE: the write lock is taken up front, so writers queue instead of failing."""
        return self.engine.transaction(transaction_type=TransactionType.immediate)

    def batch_writer(self, connection: Any) -> BatchWriter:
        return SQLiteBatchWriter(connection)

    async def _set_actor(self, actor: str) -> None:
        # One writer at a time: the row belongs to this transaction until it is cleared.
        await self.engine.run_querystring(
            QueryString("UPDATE audit_actor SET actor = {} WHERE id = 1", actor)
        )

    async def _clear_actor(self) -> None:
        await self.engine.run_querystring(
            QueryString("UPDATE audit_actor SET actor = NULL WHERE id = 1")
        )

    def broken_rule(self, error: BaseException) -> Rule | None:
        if not isinstance(error, sqlite3.IntegrityError):
            return None
        return self.rule_in_text(str(error))

    async def _count(self, key_id: int, window: int) -> tuple[int, bool]:
        rows = await self.engine.run_querystring(
            QueryString(COUNT_REQUEST, key_id, window, key_id, key_id)
        )
        if not rows:  # the key is gone
            return 0, False
        return rows[0]["requests"], bool(rows[0]["active"])

    # --- the change feed ---------------------------------------------------------------------

    def _read(self, sql: str, params: Any) -> list[Any]:
        connection = self._take()
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            self._give_back(connection)

    async def changes_after(self, after: Position, limit: int) -> list[ChangeRow]:
        """Changes after `after`: every committed row is final, as writers take turns."""
        return await asyncio.to_thread(self._read, CHANGES_AFTER, (after[1], limit))

    async def changes_pruned(self) -> Position:
        rows = await asyncio.to_thread(
            self._read, "SELECT txid, change_id FROM roster_change_pruned WHERE id = 1", ()
        )
        return (rows[0][0], rows[0][1])

    async def prune_changes(self, before: datetime) -> int:
        async with self.write_transaction():
            rows = await self.engine.run_querystring(
                QueryString(
                    "SELECT max(id) AS last FROM roster_change WHERE occurred_at < {}",
                    to_stored(before),
                )
            )
            last = rows[0]["last"]
            if last is None:
                return 0
            deleted = await self.engine.run_querystring(
                QueryString("DELETE FROM roster_change WHERE id <= {} RETURNING id", last)
            )
            await self.engine.run_querystring(
                QueryString(
                    "UPDATE roster_change_pruned SET change_id = max(change_id, {}) WHERE id = 1",
                    last,
                )
            )
        return len(deleted)

    @asynccontextmanager
    async def watch_changes(self, notify: Callable[[], None]) -> AsyncIterator[None]:
        """Polls PRAGMA data_version, which moves when another connection commits."""
        connection = self._connect()

        async def poll() -> None:
            seen = None
            while True:
                (version,) = connection.execute("PRAGMA data_version").fetchone()
                if version != seen:
                    seen = version
                    notify()
                await asyncio.sleep(WATCH_SECONDS)

        task = asyncio.create_task(poll())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            connection.close()

    async def log_attempts(self, connection: Any, rows: list[AttemptRow]) -> None:
        stored = [(*row[:3], to_stored(row[3]), *row[4:]) for row in rows]
        await connection.execute(LOG_ATTEMPTS, (_encode_json(stored).decode(),))

    @asynccontextmanager
    async def relay_slot(self) -> AsyncIterator[RelaySlot]:
        """One relay per database file: the process holding a lock on a file beside it (the
        lock goes with the process, however it ends)."""
        path = f"{self.path}-relay.lock"
        handle = await asyncio.to_thread(open, path, "a+b")
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                yield RelaySlot(held=False, only=True)
                return
            try:
                yield RelaySlot(held=True, only=True)
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()

    # --- outages ---------------------------------------------------------------------------

    @staticmethod
    def is_unavailable(error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and any(
            text in str(error).lower() for text in UNAVAILABLE
        )


# --- bulk writes -------------------------------------------------------------------------

# The roster_version, audit and overlap triggers fire once per row; the writer suspends them
# inside its own transaction (SQLite DDL is transactional, so no other connection ever sees
# them gone), bumps the version once, writes one audit entry for the whole run, and checks the
# run's periods for overlaps as each batch is written (`_first_overlap`).
ROW_TRIGGERS = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
    "AND (name LIKE 'roster\\_version\\_%' ESCAPE '\\' OR name LIKE 'roster\\_audit\\_%' "
    "ESCAPE '\\' OR name LIKE 'activity\\_period\\_no\\_overlap\\_%' ESCAPE '\\' "
    "OR name LIKE 'roster\\_change\\_%' ESCAPE '\\' "
    "OR name LIKE 'activity\\_period\\_closed\\_%' ESCAPE '\\') "
    "AND tbl_name IN ('member', 'activity_period')"
)
# Indexes dropped for the run and made again before it commits: the partial running-session
# index always (it costs more per inserted row than its size suggests); the other secondary
# indexes of both tables when the run is at least as large as the table (one sort each instead
# of a random B-tree insert per row: 100,000 members, about a second less).
SUSPENDED_INDEXES = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
    "AND tbl_name IN ('member', 'activity_period') "
    "AND (name = 'activity_period_one_running' OR ?)"
)
BULK_AUDIT = (
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00', "
    "coalesce((SELECT actor FROM audit_actor WHERE id = 1), 'sql'), 'member', '*', "
    "'bulk insert', NULL, ?)"
)
BULK_CHANGE = (
    "INSERT INTO roster_change (occurred_at, type, actor, data) "
    "VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00', 'roster.bulk', "
    "coalesce((SELECT actor FROM audit_actor WHERE id = 1), 'sql'), ?)"
)
BATCH_CACHE_KIB = 64 * 1024
# A batch goes in as one JSON text per table, and SQLite makes Piccolo's time text from the
# Unix seconds: each INSERT is one step of SQLite's, which runs without the GIL, so the next
# batch is generated meanwhile (executemany takes the GIL back for every row).
INSERT_MEMBERS = (
    "INSERT INTO member (id, real_name, tz) SELECT json_extract(value, '$[0]'), "
    "json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)"
)
INSERT_PERIODS = (
    "INSERT INTO activity_period (member, start_time, end_time) "
    "SELECT json_extract(value, '$[0]'), "
    "datetime(json_extract(value, '$[1]'), 'unixepoch') || '+00:00', "
    "datetime(json_extract(value, '$[2]'), 'unixepoch') || '+00:00' FROM json_each(?)"
)
# An import's periods, ids where given. A time is whole Unix seconds, which SQLite writes as
# Piccolo stores them, or (with a fraction) Piccolo's text already.
_GIVEN_TIME = (
    "CASE json_type(value, '$[{n}]') WHEN 'integer' THEN "
    "datetime(json_extract(value, '$[{n}]'), 'unixepoch') || '+00:00' "
    "ELSE json_extract(value, '$[{n}]') END"
)
INSERT_GIVEN_PERIODS = (
    "INSERT INTO activity_period (id, member, start_time, end_time) "
    "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    f"{_GIVEN_TIME.format(n=2)}, {_GIVEN_TIME.format(n=3)} FROM json_each(?)"
)


def _given_time(seconds: float | None) -> int | str | None:
    if seconds is None:
        return None
    whole = int(seconds)
    if whole == seconds:
        return whole
    return to_stored(datetime.fromtimestamp(seconds, UTC))


_encode_json = msgspec.json.Encoder().encode


def _first_overlap(spans: list[SpanRow]) -> SpanRow | None:
    """The first of a run's periods (Unix seconds) that overlaps an earlier one of its member,
    or None: the rule the suspended triggers keep, which only periods of a positive length
    obey. A run writes new members only, so its own periods are all a member has."""
    member_seen, reach = None, 0
    for span in sorted(span for span in spans if span[1] < span[2]):
        member, start, end = span
        if member != member_seen:
            member_seen, reach = member, end
        elif start < reach:
            return span
        elif end > reach:
            reach = end
    return None


class SQLiteBatchWriter(BatchWriter):
    """Batches through the transaction's aiosqlite connection, version triggers suspended."""

    def __init__(self, connection: Any):
        self.connection = connection
        self.triggers: list[tuple[str, str]] = []
        self.indexes: list[tuple[str, str]] = []
        self.closed_until: float | None = None

    async def start(self, members: int) -> None:
        # A larger page cache for this connection keeps index pages in memory instead of
        # spilling them to the WAL mid-transaction (bounded; freed when the connection closes).
        await self.connection.execute(f"PRAGMA cache_size = -{BATCH_CACHE_KIB}")
        cursor = await self.connection.execute(ROW_TRIGGERS)
        self.triggers = [(row["name"], row["sql"]) for row in await cursor.fetchall()]
        for name, _ in self.triggers:
            await self.connection.execute(f'DROP TRIGGER "{name}"')
        cursor = await self.connection.execute("SELECT count(*) AS stored FROM member")
        rebuild_all = members >= (await cursor.fetchone())["stored"]
        cursor = await self.connection.execute(SUSPENDED_INDEXES, (rebuild_all,))
        self.indexes = [(row["name"], row["sql"]) for row in await cursor.fetchall()]
        for name, _ in self.indexes:
            await self.connection.execute(f'DROP INDEX "{name}"')
        cursor = await self.connection.execute(
            "SELECT (julianday(until) - 2440587.5) * 86400.0 AS until FROM closing WHERE id = 1"
        )
        row = await cursor.fetchone()
        self.closed_until = None if row is None else row["until"]

    async def write(self, members: list[MemberRow], spans: list[SpanRow]) -> None:
        overlap = _first_overlap(spans)
        if overlap is not None:  # checked here because the triggers are suspended for the run
            member, start, _ = overlap
            raise sqlite3.IntegrityError(
                f"activity_period_no_overlap: member {member} has periods that overlap (one "
                f"starting {to_stored(datetime.fromtimestamp(start, UTC))})"
            )
        if self.closed_until is not None and spans:  # the closed-period triggers are suspended
            first = min(span[1] for span in spans)
            if first < self.closed_until:
                raise sqlite3.IntegrityError(
                    "activity_period_closed: periods starting before the closing are closed; "
                    f"one starts at {to_stored(datetime.fromtimestamp(first, UTC))}"
                )
        await self.connection.execute(INSERT_MEMBERS, (_encode_json(members).decode(),))
        if spans:
            await self.connection.execute(INSERT_PERIODS, (_encode_json(spans).decode(),))

    async def write_periods(self, periods: list[PeriodRow]) -> None:
        rows = [
            (period_id, member, _given_time(start), _given_time(end))
            for period_id, member, start, end in periods
        ]
        await self.connection.execute(INSERT_GIVEN_PERIODS, (_encode_json(rows).decode(),))

    async def finish(self, summary: str) -> None:
        await self.connection.execute(
            "UPDATE roster_version SET version = version + 1 WHERE id = 1"
        )
        await self.connection.execute(BULK_AUDIT, (summary,))
        await self.connection.execute(BULK_CHANGE, (summary,))
        for _, sql in [*self.indexes, *self.triggers]:
            await self.connection.execute(sql)
