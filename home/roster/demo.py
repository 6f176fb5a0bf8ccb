"""Demo data: random members, each with non-overlapping periods in the past 30 days.

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

from home.roster.tables import Member
from home.roster.validation import known_zones
from home.storage import Adapter
from home.storage.base import MemberRow, SpanRow

MAX_MEMBERS = 1_000_000
MAX_PERIODS = 100
WINDOW = timedelta(days=30)
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


async def populate_roster(
    adapter: Adapter,
    count: int,
    periods: int = 3,
    seed: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    actor: str = "cli",
) -> PopulateResult:
    """Write `count` members with `periods` each in one transaction: all or nothing.

    The audit trail gets one entry for the run, credited to `actor`.
    """
    count = parse_count(count, name="count", low=1, high=MAX_MEMBERS)
    periods = parse_count(periods, name="periods", low=0, high=MAX_PERIODS)
    started = time.perf_counter()
    written = 0
    summary = json.dumps({"members": count, "periods": count * periods, "seed": seed})
    async with adapter.audited(actor) as transaction:
        writer = adapter.batch_writer(transaction.connection)
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
        await writer.finish(summary)
    return PopulateResult(
        members=count, periods=count * periods, seconds=time.perf_counter() - started
    )
