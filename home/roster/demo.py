"""Demo data: random members, each with sessions the way people log in, in the past days.

Rows are generated in batches and written by the storage adapter's batch writer through the
transaction's own connection, so memory stays bounded by one batch and 100,000 members take
seconds. Everything is one transaction:
an error or Ctrl-C leaves the database exactly as it was.
"""

from __future__ import annotations

import asyncio
import json
import random
import string
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from home.roster.tables import Member
from home.roster.validation import known_zones
from home.storage import Adapter
from home.storage.base import MemberRow, SpanRow

MAX_MEMBERS = 1_000_000
MAX_PERIODS = 100
DEFAULT_DAYS = 30
MAX_DAYS = 366
BATCH_MEMBERS = 5_000


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
    now = datetime.now(UTC) if now is None else now.astimezone(UTC)
    # With a seed, anchor to midnight UTC so two runs on the same day are identical.
    end = now.replace(hour=0, minute=0, second=0, microsecond=0) if seed is not None else now
    return end.replace(microsecond=0)


_VARIANT = "89ab"
# When people log in, in their own zone: a morning or an afternoon start, 15 minutes to 9 hours.
MORNING = (7 * 3600, 11 * 3600)
AFTERNOON = (13 * 3600, 17 * 3600)
SHORTEST, LONGEST, USUAL = 15 * 60, 9 * 3600, 5 * 3600
WEEKEND_SHARE = 0.1


class _ZoneDays:
    """For each zone, the local days sessions fall on and when each begins.

    A day qualifies in a zone when every session it may hold (a morning start at 7 at the
    earliest, an afternoon start of 9 hours at the latest) lies inside the window, so no
    session starts before `start` or ends after `end` in any zone. The window of `days` days
    holds at least `days - 1` such days in every zone (local days are 23 to 25 hours long and
    a day's sessions span 19 hours; a skipped date is no day at all); each zone uses its latest
    `days - 1`.
    """

    def __init__(self, start: datetime, end: datetime, days: int):
        self.first = int(start.timestamp())
        self.last = int(end.timestamp())
        self.count = days - 1
        # Every calendar date that could qualify somewhere: zones run from UTC-12 to UTC+14.
        self.dates = [
            start.date() + timedelta(days=offset)
            for offset in range(-1, (end.date() - start.date()).days + 2)
        ]
        self._zones: dict[str, tuple[list[int], list[bool]]] = {}

    def __call__(self, zone: str) -> tuple[list[int], list[bool]]:
        """The UTC epoch of each day's local midnight (from the offset at local noon, so a day
        with a daylight-saving change at night is right from the morning on), and whether it
        is a working day, oldest first."""
        found = self._zones.get(zone)
        if found is None:
            tz = ZoneInfo(zone)
            usable = []
            for day in self.dates:
                noon = int(datetime(day.year, day.month, day.day, 12, tzinfo=tz).timestamp())
                if datetime.fromtimestamp(noon, tz).date() != day:
                    continue  # a date the zone skipped (Samoa's 30 December 2011)
                base = noon - 43_200
                earliest = self.first if not usable else usable[-1][0] + AFTERNOON[1] + LONGEST
                # A day's sessions may not reach into the next day's: zones have shifted by
                # up to 7 hours overnight (Antarctica/Vostok in 1994).
                if base + MORNING[0] >= earliest and base + AFTERNOON[1] + LONGEST <= self.last:
                    usable.append((base, day.weekday() < 5))
            if len(usable) < self.count:
                raise PopulateError(
                    f"{zone} changed its clocks so far in these {self.count + 1} days that only "
                    f"{len(usable)} whole days of sessions fit: use a longer --days"
                )
            usable = usable[len(usable) - self.count :]
            found = self._zones[zone] = ([base for base, _ in usable], [w for _, w in usable])
        return found


def window(end: datetime, days: int) -> tuple[datetime, datetime]:
    """The stretch of time sessions fall in: the `days` days (of 24 hours) before `end`."""
    return end - timedelta(days=days), end


def check_days(periods: int, days: int) -> None:
    """Refuse a run that cannot fit `periods` sessions a member into `days` days."""
    if periods > 2 * (days - 1):
        raise PopulateError(
            f"{periods} periods a member do not fit into {days} days (at most two a day): "
            f"use --days={periods // 2 + 1} or more, or fewer --periods"
        )


def generate_batches(
    count: int,
    periods: int,
    seed: int | None,
    now: datetime | None = None,
    batch: int = BATCH_MEMBERS,
    days: int = DEFAULT_DAYS,
) -> Iterator[tuple[list[MemberRow], list[SpanRow]]]:
    """Member rows `(id, real_name, tz)` and period rows `(member, start, end)` in whole
    Unix seconds, batch by batch, so memory holds one batch however many are asked for.

    Each member logs in `periods` times over the `days` days before `now` (before today's
    midnight UTC with a `seed`, so that a seeded run is the same all day), the way people do:
    in their own zone, mostly on working days, starting in the morning or the afternoon, for 15
    minutes to 9 hours. Every session starts and ends inside that window, in every zone. Each
    session has a slot of its own (a day, or half a day when there are more sessions than
    days), so they never overlap.
    """
    check_days(periods, days)
    rng = random.Random(seed)
    zones = sorted(known_zones())
    letters = string.ascii_uppercase
    zone_days = _ZoneDays(*window(_window_end(seed, now), days), days)
    day_count = zone_days.count
    halves = periods > day_count
    # Slots in time order: days, or (day, half) pairs when two sessions share a day.
    units = [
        (index, half) for index in range(day_count) for half in ((0, 1) if halves else (None,))
    ]
    per_slot = len(units) / periods if periods else 0
    slots = [units[int(n * per_slot) : int((n + 1) * per_slot)] for n in range(periods)]
    # A slot's working days depend on the zone's calendar: worked out once per zone.
    plans: dict[str, tuple[list[int], list[list[tuple[int, int | None]]]]] = {}

    def plan(zone: str) -> tuple[list[int], list[list[tuple[int, int | None]]]]:
        bases, working = zone_days(zone)
        workdays = [[unit for unit in slot if working[unit[0]]] or slot for slot in slots]
        plans[zone] = (bases, workdays)
        return plans[zone]

    uniform, choices, bits, triangular = rng.random, rng.choices, rng.getrandbits, rng.triangular
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
            zone = zones[int(uniform() * zone_count)]
            members.append((member_id, name, zone))
            bases, slot_workdays = plans.get(zone) or plan(zone)
            for slot, workdays in zip(slots, slot_workdays, strict=True):
                pool = slot if uniform() < WEEKEND_SHARE else workdays
                day, half = pool[int(uniform() * len(pool))]
                if half is None:
                    half = 0 if uniform() < 0.5 else 1
                low, high = AFTERNOON if half else MORNING
                begin = low + int(uniform() * (high - low))
                longest = LONGEST if not halves or half else AFTERNOON[0] - begin - 300
                length = int(triangular(SHORTEST, max(SHORTEST, longest), min(USUAL, longest)))
                start = bases[day] + begin
                spans.append((member_id, start, start + length))
        yield members, spans


def generate(
    count: int,
    periods: int,
    seed: int | None,
    now: datetime | None = None,
    days: int = DEFAULT_DAYS,
) -> list[tuple[Member, list[tuple[datetime, datetime]]]]:
    """The members and periods a run would write, without touching the database."""
    out = []
    for members, spans in generate_batches(count, periods, seed, now, days=days):
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


async def populate_roster(
    adapter: Adapter,
    count: int,
    periods: int = 3,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    actor: str = "cli",
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> PopulateResult:
    """Write `count` members with `periods` each in one transaction: all or nothing.

    Sessions fall in the `days` days before `now` (default: the clock's now), as
    `generate_batches` makes them. The audit trail gets one entry for the run, credited to
    `actor`.
    """
    count = parse_count(count, name="count", low=1, high=MAX_MEMBERS)
    periods = parse_count(periods, name="periods", low=0, high=MAX_PERIODS)
    days = parse_count(days, name="days", low=2, high=MAX_DAYS)
    check_days(periods, days)
    started = time.perf_counter()
    written = 0
    summary = json.dumps({"members": count, "periods": count * periods, "days": days, "seed": seed})
    async with adapter.audited(actor) as transaction:
        writer = adapter.batch_writer(transaction.connection)
        await writer.start(count)
        batches = generate_batches(count, periods, seed, now, days=days)
        # The next batch is generated in a thread while the database writes this one: the
        # engines write a batch without holding the GIL (SQLite in one step of its own per
        # table, PostgreSQL in its server), so the two overlap.
        upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
        try:
            while (batch := await upcoming) is not None:
                upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
                await writer.write(*batch)
                written += len(batch[0])
                if progress is not None:
                    progress(written, count)
        finally:
            # A failed write leaves a batch being generated: wait for it (it cannot be stopped
            # midway), then the transaction rolls back.
            await asyncio.gather(upcoming, return_exceptions=True)
        await writer.finish(summary)
    return PopulateResult(
        members=count, periods=count * periods, seconds=time.perf_counter() - started
    )
