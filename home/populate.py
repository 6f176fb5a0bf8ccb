"""Demo data: random members, each with non-overlapping periods in the past 30 days.

Rows are generated in batches and written with the transaction's own connection
(executemany on SQLite, one `unnest` INSERT per batch on PostgreSQL), so memory stays
bounded by one batch and 100,000 members take seconds. Everything is one transaction:
an error or Ctrl-C leaves the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import random
import string
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from home.db import engine, write_transaction
from home.tables import Member
from home.validation import known_zones

MAX_MEMBERS = 1_000_000
MAX_PERIODS = 100
WINDOW = timedelta(days=30)
BATCH_MEMBERS = 5_000

# On SQLite the roster_version triggers fire once per row; populate suspends them inside its
# own transaction (SQLite DDL is transactional, so no other connection ever sees them gone)
# and bumps the version once itself.
SQLITE_VERSION_TRIGGERS = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
    "AND name LIKE 'roster\\_version\\_%' "
    "ESCAPE '\\' AND tbl_name IN ('member', 'activity_period')"
)

SQLITE_CACHE_KIB = 64 * 1024

MemberRow = tuple[str, str, str]
SpanRow = tuple[str, int, int]


class PopulateError(ValueError):
    """The request to populate cannot be carried out as asked."""


@dataclass(frozen=True)
class PopulateResult:
    """What one run of populate wrote."""

    members: int
    periods: int
    seconds: float


def parse_count(raw: object, *, name: str, low: int, high: int) -> int:
    """An integer within [low, high], or a PopulateError saying what is allowed."""
    if isinstance(raw, bool):
        raw = str(raw)
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise PopulateError(
            f"{name} must be a whole number from {low} to {high:,}, not {raw!r}"
        ) from None
    if not low <= value <= high:
        raise PopulateError(f"{name} must be from {low} to {high:,}, not {value:,}")
    return value


def _window_end(seed: int | None, now: datetime | None) -> datetime:
    if now is None:
        now = datetime.now(UTC)
    # With a seed, anchor to midnight UTC so two runs on the same day are identical.
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) if seed is not None else now
    return end.replace(microsecond=0)


_VARIANT = "89ab"


def generate_batches(
    count: int,
    periods: int,
    seed: int | None,
    now: datetime | None = None,
    batch: int = BATCH_MEMBERS,
) -> Iterator[tuple[list[MemberRow], list[SpanRow]]]:
    """Member rows `(id, real_name, tz)` and period rows `(member, start, end)` in whole
    Unix seconds, batch by batch, so memory holds one batch however many are asked for."""
    rng = random.Random(seed)
    zones = sorted(known_zones())
    letters = string.ascii_uppercase
    window_end = int(_window_end(seed, now).timestamp())
    window = int(WINDOW.total_seconds())
    slot_seconds = window // periods if periods else window
    slot_starts = [window_end - window + slot_seconds * index for index in range(periods)]
    # Leave at least a minute on each side so periods in neighbouring slots never touch.
    offsets = max(0, slot_seconds // 2 - 60) + 1
    lengths = max(60, slot_seconds // 2 - 60) - 60 + 1
    uniform, choices, bits = rng.random, rng.choices, rng.getrandbits
    zone_count = len(zones)
    for batch_start in range(0, count, batch):
        members: list[MemberRow] = []
        spans: list[SpanRow] = []
        for _ in range(min(batch, count - batch_start)):
            digits = f"{bits(128):032x}"
            member_id = (
                f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
                f"{_VARIANT[int(digits[16], 16) & 3]}{digits[17:20]}-{digits[20:]}"
            )
            name = "".join(choices(letters, k=10))
            members.append((member_id, name, zones[int(uniform() * zone_count)]))
            for slot_start in slot_starts:
                start = slot_start + int(uniform() * offsets)
                spans.append((member_id, start, start + 60 + int(uniform() * lengths)))
        yield members, spans


def generate(
    count: int, periods: int, seed: int | None, now: datetime | None = None
) -> list[tuple[Member, list[tuple[datetime, datetime]]]]:
    """The members and periods a run would write, without touching the database."""
    out = []
    for members, spans in generate_batches(count, periods, seed, now):
        by_member: dict[str, list[tuple[datetime, datetime]]] = {row[0]: [] for row in members}
        for member_id, start, end in spans:
            by_member[member_id].append(
                (
                    datetime.fromtimestamp(start, UTC),
                    datetime.fromtimestamp(end, UTC),
                )
            )
        out.extend(
            (Member(id=uuid.UUID(member_id), real_name=name, tz=tz), by_member[member_id])
            for member_id, name, tz in members
        )
    return out


class _StoredTimes:
    """Unix seconds as SQLite stores times (`2020-06-20 14:29:00+00:00`), by table lookup."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}
        self.clock = [
            f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}+00:00"
            for second in range(86_400)
        ]

    def __call__(self, seconds: int) -> str:
        day, second = divmod(seconds, 86_400)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d ")
            self.days[day] = prefix
        return prefix + self.clock[second]


class _SQLiteWriter:
    """Batches through the transaction's aiosqlite connection, version triggers suspended."""

    def __init__(self, connection: Any):
        self.connection = connection
        self.triggers: list[tuple[str, str]] = []
        self.stored = _StoredTimes()

    async def start(self) -> None:
        # A larger page cache for this connection keeps index pages in memory instead of
        # spilling them to the WAL mid-transaction (bounded; freed when the connection closes).
        await self.connection.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor = await self.connection.execute(SQLITE_VERSION_TRIGGERS)
        self.triggers = [(row["name"], row["sql"]) for row in await cursor.fetchall()]
        for name, _ in self.triggers:
            await self.connection.execute(f'DROP TRIGGER "{name}"')

    async def write(self, members: list[MemberRow], spans: list[SpanRow]) -> None:
        stored = self.stored
        rows = [(member, stored(start), stored(end)) for member, start, end in spans]
        await self.connection.executemany(
            "INSERT INTO member (id, real_name, tz) VALUES (?, ?, ?)", members
        )
        if rows:
            await self.connection.executemany(
                "INSERT INTO activity_period (member, start_time, end_time) VALUES (?, ?, ?)", rows
            )

    async def finish(self) -> None:
        if self.triggers:
            await self.connection.execute(
                "UPDATE roster_version SET version = version + 1 WHERE id = 1"
            )
        for _, sql in self.triggers:
            await self.connection.execute(sql)


class _PostgresWriter:
    """One INSERT ... SELECT FROM unnest(...) per batch (the statement trigger fires once)."""

    def __init__(self, connection: Any):
        self.connection = connection

    async def start(self) -> None:
        return None

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

    async def finish(self) -> None:
        return None


async def populate_roster(
    count: int,
    periods: int = 3,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PopulateResult:
    """Write `count` members with `periods` each in one transaction: all or nothing."""
    count = parse_count(count, name="count", low=1, high=MAX_MEMBERS)
    periods = parse_count(periods, name="periods", low=0, high=MAX_PERIODS)
    started = time.perf_counter()
    written = 0
    async with write_transaction() as transaction:
        sqlite = engine().engine_type == "sqlite"
        writer = (_SQLiteWriter if sqlite else _PostgresWriter)(transaction.connection)
        await writer.start()
        pending: asyncio.Future[None] | None = None
        try:
            # Generate the next batch while the database writes the previous one.
            for members, spans in generate_batches(count, periods, seed):
                if pending is not None:
                    await pending
                    written += BATCH_MEMBERS
                    if progress is not None:
                        progress(min(written, count), count)
                pending = asyncio.ensure_future(writer.write(members, spans))
            if pending is not None:
                await pending
                pending = None
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
        if progress is not None:
            progress(count, count)
        await writer.finish()
    return PopulateResult(
        members=count, periods=count * periods, seconds=time.perf_counter() - started
    )
