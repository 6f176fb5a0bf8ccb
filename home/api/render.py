"""Shaping the roster's rows into the /fetch/ document, chunk by chunk, as they arrive.

A large roster is streamed in chunks of CHUNK_MEMBERS members without ever holding the whole
document.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import msgspec

from home.api.collector import collector_paused
from home.api.query import FetchQuery, Position, encode_cursor
from home.api.schemas import FullThrottleMember, MemberOut, Period
from home.roster.timefmt import zone_hours
from home.storage import Snapshot
from home.storage.base import StoredTimes, UnusualTime

CHUNK_MEMBERS = 1_000
FETCH_ROWS = 1_000  # a row per member
# The first read is smaller, so that shaping starts early and the next read overlaps it.
FIRST_FETCH_ROWS = 250

_encode = msgspec.json.Encoder().encode
HEAD = b'{"ok":true,"members":['


class _Shaper:
    """Turns one member's row `(id, real_name, tz, periods)` into their encodable object, in
    the requested style."""

    def __init__(self, style: str, times: StoredTimes):
        self.fullthrottle = style == "fullthrottle"
        self.times = times
        self.seed_periods = times.seed_periods(Period)
        self.fullthrottle_periods = times.fullthrottle_periods(Period)

    def member(self, row: Sequence[Any]) -> MemberOut | FullThrottleMember:
        member_id, real_name, tz, stored = row[0], row[1], row[2], row[3]
        if self.fullthrottle:
            return self._fullthrottle(member_id, real_name, tz, stored)
        try:
            periods = self.seed_periods(stored)
        except UnusualTime:
            times = self.times
            spans = times.in_order(times.periods(stored))
            periods = [Period(times.seed(start), times.seed(end)) for start, end in spans]
        return MemberOut(member_id, real_name, tz, periods)

    def _fullthrottle(
        self, member_id: str, real_name: str, tz: str, stored: Any
    ) -> FullThrottleMember:
        hours = zone_hours(tz)
        try:
            periods = self.fullthrottle_periods(stored, hours)
        except UnusualTime:
            times = self.times
            written = times.fullthrottle
            periods = [
                Period(written(start, hours), written(end, hours))
                for start, end in times.in_order(times.periods(stored))
            ]
        return FullThrottleMember(member_id, real_name, tz, periods)


class _Batches:
    """The snapshot's rows in batches, the next batch read while this one is shaped.

    On SQLite the read runs in a worker thread that lets go of the GIL while SQLite steps
    through the members; on PostgreSQL the server works on it. Either way it overlaps the
    shaping, which runs on the event loop.
    """

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.reading: tuple[asyncio.Future[list[Any]], int] | None = None
        self.size = min(FIRST_FETCH_ROWS, FETCH_ROWS)

    def _read(self) -> tuple[asyncio.Future[list[Any]], int]:
        size, self.size = self.size, FETCH_ROWS
        return asyncio.ensure_future(self.snapshot.fetch(size)), size

    async def next(self) -> tuple[list[Any], bool]:
        """The next batch, and whether it is the last."""
        if self.reading is None:
            self.reading = self._read()
        reading, size = self.reading
        # Shielded, and forgotten only once done: if the request is cancelled meanwhile, the
        # read still finishes and `close` waits for it.
        rows = await asyncio.shield(reading)
        self.reading = None
        last = len(rows) < size
        if not last:
            self.reading = self._read()
        return rows, last

    async def close(self) -> None:
        """Wait for a read still running: its thread uses the snapshot's connection, which is
        given back (to be used by other requests) as soon as the render ends."""
        if self.reading is None:
            return
        reading, self.reading = self.reading[0], None
        cancelled = False
        while not reading.done():
            try:
                await asyncio.wait([reading])
            except asyncio.CancelledError:
                cancelled = True  # waited for all the same (a read of one batch), then raised
        if not reading.cancelled():
            reading.exception()  # retrieved: a failed read-ahead nobody needs is no error
        if cancelled:
            raise asyncio.CancelledError


async def member_rows(
    snapshot: Snapshot, query: FetchQuery, times: StoredTimes
) -> tuple[MemberOut | FullThrottleMember, datetime | None] | None:
    """The one member a `member_id` query reads, shaped in its style, and the start of their
    running session (None when none runs); None when there is no such member."""
    rows = await snapshot.fetch(1)
    if not rows:
        return None
    running = rows[0][4]
    shaped = _Shaper(query.style, times).member(rows[0])
    return shaped, None if running is None else times.to_datetime(running)


async def render(snapshot: Snapshot, query: FetchQuery, times: StoredTimes) -> AsyncIterator[bytes]:
    """The JSON document for `query`, in chunks, built from the snapshot's rows."""
    member = _Shaper(query.style, times).member
    limit = query.limit
    yield HEAD
    chunk: list[Any] = []
    emitted = 0
    first_chunk = True
    last: Position | None = None
    more = False
    done = False
    batches = _Batches(snapshot)
    try:
        while not done:
            rows, done = await batches.next()
            if limit is not None and emitted + len(rows) > limit:
                # The statement read one member more than the page: another page follows.
                rows = rows[: limit - emitted]
                more = done = True
            with collector_paused():
                chunk.extend(map(member, rows))
                emitted += len(rows)
                if chunk:
                    last = Position(chunk[-1].real_name, chunk[-1].id)
                if len(chunk) >= CHUNK_MEMBERS or (done and chunk):
                    encoded = _encode(chunk)[1:-1]
                    chunk = []
                else:
                    encoded = b""
            if encoded:
                yield encoded if first_chunk else b"," + encoded
                first_chunk = False
    finally:
        await batches.close()
    if limit is None:
        yield b"]}"
    else:
        next_cursor = encode_cursor(last) if more and last is not None else None
        yield b'],"next":' + _encode(next_cursor) + b"}"
