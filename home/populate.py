"""Demo data: random members, each with non-overlapping periods in the past 30 days."""

from __future__ import annotations

import random
import string
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from home.db import write_transaction
from home.tables import ActivityPeriod, Member
from home.validation import known_zones

MAX_MEMBERS = 1_000_000
MAX_PERIODS = 100
WINDOW = timedelta(days=30)
BATCH_MEMBERS = 2_000


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


def _random_name(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=10))


def _periods_for(rng: random.Random, count: int, window_end: datetime) -> list[tuple[datetime, datetime]]:
    """`count` periods in the 30 days before window_end, ordered and not overlapping."""
    if count == 0:
        return []
    slot = WINDOW / count
    window_start = window_end - WINDOW
    slot_seconds = int(slot.total_seconds())
    periods = []
    for index in range(count):
        slot_start = window_start + slot * index
        # Leave at least a minute on each side so periods in neighbouring slots never touch.
        start_offset = rng.randint(0, max(0, slot_seconds // 2 - 60))
        length = rng.randint(60, max(60, slot_seconds // 2 - 60))
        start = slot_start + timedelta(seconds=start_offset)
        periods.append((start, start + timedelta(seconds=length)))
    return periods


def generate(
    count: int, periods: int, seed: int | None, now: datetime | None = None
) -> list[tuple[Member, list[tuple[datetime, datetime]]]]:
    """The members and periods a run would write, without touching the database."""
    rng = random.Random(seed)
    zones = sorted(known_zones())
    if now is None:
        now = datetime.now(timezone.utc)
    # With a seed, anchor to midnight UTC so two runs on the same day are identical.
    window_end = now.replace(hour=0, minute=0, second=0, microsecond=0) if seed is not None else now
    window_end = window_end.replace(microsecond=0)
    out = []
    for _ in range(count):
        member = Member(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            real_name=_random_name(rng),
            tz=rng.choice(zones),
        )
        out.append((member, _periods_for(rng, periods, window_end)))
    return out


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
    rows = generate(count, periods, seed)
    written = 0
    async with write_transaction():
        for batch_start in range(0, count, BATCH_MEMBERS):
            batch = rows[batch_start : batch_start + BATCH_MEMBERS]
            await Member.insert(*(member for member, _ in batch))
            period_rows = [
                ActivityPeriod(member=member.id, start_time=start, end_time=end)
                for member, spans in batch
                for start, end in spans
            ]
            if period_rows:
                await ActivityPeriod.insert(*period_rows)
            written += len(batch)
            if progress is not None:
                progress(written, count)
    return PopulateResult(
        members=count, periods=count * periods, seconds=time.perf_counter() - started
    )
