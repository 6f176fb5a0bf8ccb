"""Shaping the roster's rows into the /fetch/ document, chunk by chunk, as they arrive.

A large roster is streamed in chunks of CHUNK_MEMBERS members without ever holding the whole
document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from home.api.query import FetchQuery, Position, encode_cursor
from home.api.schemas import FullThrottleMember, MemberOut, Period
from home.roster.timefmt import format_fullthrottle, zone_named
from home.storage import Snapshot
from home.storage.base import StoredTimes

CHUNK_MEMBERS = 1_000
FETCH_ROWS = 4_000

_encode = msgspec.json.Encoder().encode
HEAD = b'{"ok":true,"members":['


class _Shaper:
    """Turns (member, period) rows into encoded member objects in the requested style."""

    def __init__(self, style: str, times: StoredTimes):
        self.fullthrottle = style == "fullthrottle"
        self.times = times

    def member(self, rows: list[Any]) -> MemberOut | FullThrottleMember:
        member_id, real_name, tz = rows[0][0], rows[0][1], rows[0][2]
        times = self.times
        spans = times.in_order([(row[3], row[4]) for row in rows if row[3] is not None])
        if self.fullthrottle:
            zone = zone_named(tz)
            to_datetime = times.to_datetime
            periods = [
                Period(
                    format_fullthrottle(to_datetime(start), zone),
                    format_fullthrottle(to_datetime(end), zone),
                )
                for start, end in spans
            ]
            return FullThrottleMember(member_id, real_name, tz, periods)
        seed = times.seed
        periods = [Period(seed(start), seed(end)) for start, end in spans]
        return MemberOut(member_id, real_name, tz, periods)


async def member_rows(
    snapshot: Snapshot, query: FetchQuery, times: StoredTimes
) -> MemberOut | FullThrottleMember | None:
    """The one member a `member_id` query reads, shaped in its style; None when it is absent."""
    rows: list[Any] = []
    while batch := await snapshot.fetch(FETCH_ROWS):
        rows.extend(batch)
        if len(batch) < FETCH_ROWS:
            break
    return _Shaper(query.style, times).member(rows) if rows else None


async def render(snapshot: Snapshot, query: FetchQuery, times: StoredTimes) -> AsyncIterator[bytes]:
    """The JSON document for `query`, in chunks, built from the snapshot's rows."""
    shaper = _Shaper(query.style, times)
    yield HEAD
    chunk: list[Any] = []
    pending: list[Any] = []
    emitted = 0
    first_chunk = True
    last: Position | None = None
    more = False
    done = False
    while not done:
        rows = await snapshot.fetch(FETCH_ROWS)
        done = len(rows) < FETCH_ROWS
        for row in rows:
            if pending and row[0] != pending[0][0]:
                if query.limit is not None and emitted == query.limit:
                    more = True
                    pending = []
                    done = True
                    break
                chunk.append(shaper.member(pending))
                last = Position(pending[0][1], pending[0][0])
                emitted += 1
                pending = []
            pending.append(row)
        if done and pending:
            if query.limit is not None and emitted == query.limit:
                more = True
            else:
                chunk.append(shaper.member(pending))
                last = Position(pending[0][1], pending[0][0])
                emitted += 1
            pending = []
        if len(chunk) >= CHUNK_MEMBERS or (done and chunk):
            encoded = _encode(chunk)[1:-1]
            yield encoded if first_chunk else b"," + encoded
            first_chunk = False
            chunk = []
    if query.limit is None:
        yield b"]}"
    else:
        next_cursor = encode_cursor(last) if more and last is not None else None
        yield b'],"next":' + _encode(next_cursor) + b"}"
