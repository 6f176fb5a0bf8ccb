"""The interface every engine adapter implements, and the values the adapters hand out.

The rest of the service calls an `Adapter` and never asks which engine is behind it:

- freshness: `current_version()` and `snapshot(sql, params)` (rows and the version they
  were read at, in one read transaction);
- writes: `audited(actor)`, a write transaction whose changes the audit trail credits to
  `actor`, and `batch_writer()` (bulk inserts for demo data);
- rules: `broken_rule(error)`, which database rule a refused write broke;
- the API's shared state: `count_request(key_id, window)`, a key's requests this minute;
- outages: `is_unavailable(error)`, whether an error means the database cannot answer now;
- the change feed: `changes_after(position, limit)` (in commit order),
  `prune_changes(before)`, `watch_changes(notify)` (a call whenever the feed may have grown),
  `claimable(query)` (rows other relays skip while one holds them) and `relay_slot()`
  (whether this process may run a webhook relay);
- SQL: `dialect`, the pieces of a statement that differ (placeholders, byte-order names,
  lower-casing, time comparison), and `times`, how stored times come back in rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from piccolo.querystring import QueryString

from home.roster.timefmt import ZoneHours
from home.settings import Settings

T = TypeVar("T")

Position = tuple[int, int]
"""Where a change sits in the feed: `(commit number, change id)`, compared as a pair. On
PostgreSQL the commit number is the data version its transaction took as it committed; on
SQLite, where writers take turns, it is always 0. `(0, 0)` is before all."""
ChangeRow = tuple[int, int, Any, str, str, str]
"""A change as stored: commit number, id, when, type, actor, and the row as JSON text."""
AttemptRow = tuple[int, str, str, datetime, int, int | None, str | None, float, str]
"""A webhook delivery attempt to log: endpoint, change id, change type, when, attempt number,
status code, error, milliseconds and outcome."""

MemberRow = tuple[str, str, str]
"""`(id, real_name, tz)` of a member to insert."""
SpanRow = tuple[str, int, int]
"""`(member id, start, end)` of a period to insert, in whole Unix seconds."""
PeriodRow = tuple[int | None, str, float, float | None]
"""`(id or None for the next, member id, start, end or None while running)` of a period to
insert as given (an import's), times in Unix seconds to the microsecond."""


class Rule(Enum):
    """A rule the database enforces on writes."""

    NO_OVERLAP = "a member's periods never overlap"
    ONE_RUNNING = "a member has at most one running session"
    ENDS_AFTER_START = "a period ends at or after its start"
    UNIQUE_KEY_NAME = "API key names are unique"
    MEMBER_EXISTS = "a period belongs to a member who exists"
    CLOSED = "a period that starts before the closing is never created, changed or deleted"


@dataclass(frozen=True)
class DataVersion:
    """Which state of the roster a body was rendered from; equal versions mean equal data.

    `changes` is a position of the change feed read with the version: a follower of the feed
    from there misses no change made after the data it reads at this version (it may see
    again a change the data already holds). It takes no part in comparisons.
    """

    epoch: str
    number: int
    changes: Position = field(default=(0, 0), compare=False)

    @property
    def token(self) -> str:
        """The version as it appears in ETags."""
        return f"{self.epoch}.{self.number}"


@dataclass
class Snapshot:
    """An open read transaction: the version it saw and a way to fetch its rows in batches."""

    version: DataVersion
    fetch: Callable[[int], Any]


class Params:
    """Numbered placeholders for one statement and the values bound to them."""

    def __init__(self, placeholder: Callable[[int, str], str]):
        self._placeholder = placeholder
        self.values: list[Any] = []

    def add(self, value: Any, cast: str = "") -> str:
        """The placeholder for `value`; `cast` is a type the engine may need, e.g. `uuid`."""
        self.values.append(value)
        return self._placeholder(len(self.values), cast)


@dataclass(frozen=True)
class TimeScale:
    """How a dialect's `instant` numbers relate to Unix seconds."""

    seconds_per_unit: float
    unit_at_epoch: float

    def number(self, seconds: float) -> float:
        """Unix seconds as this scale's number."""
        return seconds / self.seconds_per_unit + self.unit_at_epoch

    def seconds(self, number: float) -> float:
        """This scale's number as Unix seconds."""
        return (number - self.unit_at_epoch) * self.seconds_per_unit


class Dialect(ABC):
    """The pieces of SQL that differ between the engines."""

    @abstractmethod
    def params(self) -> Params:
        """A fresh set of placeholders for one statement."""

    @abstractmethod
    def bound(self, params: Params) -> Sequence[Any] | dict[str, Any]:
        """The values of `params` as the driver takes them."""

    @abstractmethod
    def name_order(self, column: str) -> str:
        """`column` as it sorts and compares in byte order (the API's order of names)."""

    @abstractmethod
    def contains_ignoring_case(self, column: str, params: Params, text: str) -> str:
        """A condition: `column` contains `text`, both lowered one character at a time."""

    @abstractmethod
    def time_compare(self, column: str, operator: str, params: Params, moment: datetime) -> str:
        """A condition comparing the stored time `column` with `moment` as instants."""

    @abstractmethod
    def id_text(self, column: str) -> str:
        """A uuid column as text, e.g. `a23a4474-32f5-42fe-8f82-ab495500ecf9`."""

    @abstractmethod
    def instant(self, column: str) -> str:
        """A stored time as a number of `TimeScale` units (cheapest for the engine to compute)."""

    scale: TimeScale

    @abstractmethod
    def member_periods(self, member_id: str, conditions: str) -> str:
        """A scalar subquery: the periods of member `member_id` that meet `conditions` (on
        `p`, the period), ordered by start_time, end_time and id, gathered into one value that
        `StoredTimes.periods` reads."""


class StoredTimes(ABC):
    """How a period's times come back in rows on this engine."""

    @abstractmethod
    def to_datetime(self, value: Any) -> datetime:
        """The stored time as an aware datetime in UTC."""

    def fullthrottle(self, value: Any, hours: ZoneHours) -> str:
        """The stored time as the fullthrottle style writes it in `hours`' zone."""
        return hours.written(self.to_datetime(value).timestamp())

    @abstractmethod
    def seed(self, value: Any) -> str:
        """The stored time as the seed document writes it: `June 05 2020 09:07` (UTC)."""

    @abstractmethod
    def in_order(self, spans: list[Any]) -> list[Any]:
        """`[start, end]` pairs in order of their start instants (SQL sorted them already
        wherever the stored form sorts as time)."""

    @abstractmethod
    def periods(self, value: Any) -> list[Any]:
        """The `[start, end]` pairs of a member's periods column (`Dialect.member_periods`), as
        the driver gives them (lists, not copied into tuples)."""

    def seed_formatter(self) -> Callable[[Any], str]:
        """`seed` for one render of many rows: it may remember what it worked out (each day's
        text, say) and raises `UnusualTime` for a value that needs `in_order` and `seed`."""
        return self.seed

    def seed_periods(self, make: Callable[[str, str], T]) -> Callable[[Any], list[T]]:
        """For one render: a member's periods column to `make(start text, end text)` per
        period, in the seed's form and SQL's order. Raises `UnusualTime` where a stored form
        needs `in_order` and `seed`."""
        seed = self.seed_formatter()
        periods = self.periods
        return lambda value: [make(seed(start), seed(end)) for start, end in periods(value)]

    def fullthrottle_periods(
        self, make: Callable[[str, str], T]
    ) -> Callable[[Any, ZoneHours], list[T]]:
        """For one render: a member's periods column to `make(start text, end text)` per
        period, written in the member's zone (`ZoneHours`), in order. Raises `UnusualTime`
        where a stored form needs `in_order` and `fullthrottle`."""
        written, periods, in_order = self.fullthrottle, self.periods, self.in_order
        return lambda value, hours: [
            make(written(start, hours), written(end, hours))
            for start, end in in_order(periods(value))
        ]


class UnusualTime(ValueError):
    """A stored time in a form the fast formatter leaves to `in_order` and `seed`."""


class BatchWriter(ABC):
    """Bulk inserts through one transaction's connection. The audit trail gets one summary
    entry for the whole run (`finish`) instead of one per row."""

    @abstractmethod
    async def start(self, members: int) -> None:
        """Prepare the connection before the first batch of a run writing `members` members."""

    @abstractmethod
    async def write(self, members: list[MemberRow], spans: list[SpanRow]) -> None:
        """Insert one batch of members and their periods: every period of each member of the
        run comes in the same batch as the member (the SQLite writer checks them for overlaps
        batch by batch)."""

    @abstractmethod
    async def write_periods(self, periods: list[PeriodRow]) -> None:
        """Insert periods of members that exist (or were written by this run), checked by
        the caller against every rule; ids kept where given."""

    @abstractmethod
    async def finish(self, summary: str) -> None:
        """Complete the work before the transaction commits; `summary` (JSON) is audited."""


class Adapter(ABC):
    """One engine behind the interface the rest of the service calls."""

    name: str
    dialect: Dialect
    times: StoredTimes

    def __init__(self, engine: Any, settings: Settings):
        self.engine = engine
        self.settings = settings
        # Tests set this to a list to see every statement the read path sends.
        self.statement_log: list[str] | None = None

    def log_statement(self, statement: str) -> None:
        """Record `statement` when a test is watching."""
        if self.statement_log is not None:
            self.statement_log.append(statement)

    @abstractmethod
    async def open(self) -> None:
        """Open what the adapter keeps (a connection pool) for the life of the app."""

    @abstractmethod
    async def close(self) -> None:
        """Close what `open` opened and every connection the adapter made."""

    async def ping(self) -> None:
        """Run `SELECT 1`; raises when the database cannot answer."""
        await self.engine.run_querystring(QueryString("SELECT 1"))

    @abstractmethod
    async def current_version(self) -> DataVersion:
        """The committed data version."""

    @abstractmethod
    def snapshot(self, sql: str, params: Any) -> AbstractAsyncContextManager[Snapshot]:
        """Rows of `sql` and the data version, read in one read transaction."""

    @abstractmethod
    async def read_all(
        self, statements: list[tuple[str, Any]]
    ) -> tuple[DataVersion, list[list[Any]]]:
        """Every row of each statement and the data version, all read in one snapshot."""

    @abstractmethod
    def write_transaction(self) -> Any:
        """A Piccolo transaction for writers (`async with`)."""

    @asynccontextmanager
    async def audited(self, actor: str) -> AsyncIterator[Any]:
        """A write transaction whose changes the audit trail credits to `actor` (who wrote:
        `api key NAME`, `admin USERNAME`, `cli`)."""
        async with self.write_transaction() as transaction:
            await self._set_actor(actor)
            yield transaction
            await self._clear_actor()

    @abstractmethod
    async def _set_actor(self, actor: str) -> None:
        """Make the audit triggers credit this transaction's writes to `actor`."""

    async def _clear_actor(self) -> None:
        """Forget the actor before the transaction commits, where it does not end with it."""
        return None

    async def lock_member_periods(self, member_id: str) -> None:
        """Make the current write transaction the only writer of this member's periods until it
        ends, so that its rules are checked against committed rows only (nothing to do where
        write transactions take turns anyway, as on SQLite)."""
        return None

    async def hold_period_writers(self) -> None:
        """Wait for every write transaction of periods to end, and hold new ones until the
        current write transaction ends (closing the books checks what runs, then closes)."""
        return None

    @abstractmethod
    def broken_rule(self, error: BaseException) -> Rule | None:
        """The rule a refused write broke, or None when `error` is not such a refusal."""

    # The words by which the engine's refusal names each rule (a constraint or its message).
    rule_texts: dict[str, Rule] = {}

    def rule_in_text(self, text: str) -> Rule | None:
        """The rule a refusal's text (e.g. the `db_error` Piccolo Admin answers) names, if any."""
        return next((rule for part, rule in self.rule_texts.items() if part in text), None)

    async def count_request(self, key_id: int, window: int) -> tuple[int, bool]:
        """Count one request by API key `key_id` in minute `window`: how many it made in it,
        and whether the key is still active (one statement, so revoking takes effect at once).
        """
        count, active = await self._count(key_id, window)
        if count == 1:  # a new minute: forget the key's minutes older than an hour
            await self.engine.run_querystring(
                QueryString(
                    "DELETE FROM api_key_usage WHERE key_id = {} AND window_start < {}",
                    key_id,
                    window - 60,
                )
            )
        return count, active

    @abstractmethod
    async def _count(self, key_id: int, window: int) -> tuple[int, bool]:
        """One more request in the key's window, atomically: the count, and the key's `active`."""

    @abstractmethod
    def batch_writer(self, connection: Any) -> BatchWriter:
        """Bulk inserts through `connection`, a write transaction's own."""

    @staticmethod
    @abstractmethod
    def is_unavailable(error: BaseException) -> bool:
        """Whether `error` means this engine cannot answer now (rather than a bug)."""

    # --- the change feed -------------------------------------------------------------------

    @abstractmethod
    async def changes_after(self, after: Position, limit: int) -> list[ChangeRow]:
        """Up to `limit` changes after `after`, in order of position: commit order, so no
        change committed later can precede them."""

    @abstractmethod
    async def changes_pruned(self) -> Position:
        """The last position pruned: a follower before it has missed changes."""

    @abstractmethod
    async def prune_changes(self, before: datetime) -> int:
        """Delete the changes made before `before` (and any earlier in position); how many."""

    @abstractmethod
    def watch_changes(self, notify: Callable[[], None]) -> AbstractAsyncContextManager[None]:
        """While open, call `notify` soon after each commit that may have added changes."""

    @abstractmethod
    def relay_slot(self) -> AbstractAsyncContextManager[RelaySlot]:
        """Whether this process may run a webhook relay now, for as long as the block runs."""

    @abstractmethod
    async def log_attempts(self, connection: Any, rows: list[AttemptRow]) -> None:
        """Add webhook delivery attempts to the log through `connection`, a write transaction's
        own, in one statement (the relay writes dozens at a time)."""

    def claimable(self, query: T) -> T:
        """`query` (a Piccolo select) so that the rows it returns are locked for this
        transaction and skipped by other transactions doing the same (where rows can be)."""
        return query


@dataclass(frozen=True)
class RelaySlot:
    """A process's place among the webhook relays on one database."""

    held: bool
    """Whether this process runs a relay."""
    only: bool
    """Whether it is the only relay (SQLite): another's lease is then a dead process's."""
