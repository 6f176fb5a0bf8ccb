"""Reading the roster: one query per document or page, shaped into JSON as the rows arrive.

Members come in the API's order (real_name in byte order, then id) with their periods
(by start_time) from a single LEFT JOIN, so a request sends the same number of queries
whether the roster holds one member or a million, and a large roster is streamed in
chunks of CHUNK_MEMBERS members without ever holding the whole document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from home.fetch_query import FetchQuery, Position, encode_cursor
from home.schemas import FullThrottleMember, MemberOut, Period
from home.snapshot import Snapshot, lower_each_character
from home.timefmt import (
    format_fullthrottle,
    format_seed,
    is_canonical_stored,
    parse_stored,
    seed_from_stored,
    to_stored,
    zone_named,
)

CHUNK_MEMBERS = 1_000
FETCH_ROWS = 4_000

_encode = msgspec.json.Encoder().encode
HEAD = b'{"ok":true,"members":['


class _Params:
    """Numbered placeholders (`:p1` on SQLite, `$1` on PostgreSQL) and their values."""

    def __init__(self, sqlite: bool):
        self.sqlite = sqlite
        self.values: list[Any] = []

    def add(self, value: Any, cast: str = "") -> str:
        self.values.append(value)
        number = len(self.values)
        return f":p{number}" if self.sqlite else f"${number}{cast}"

    def bound(self) -> list[Any] | dict[str, Any]:
        if self.sqlite:
            return {f"p{number}": value for number, value in enumerate(self.values, 1)}
        return self.values


def _sqlite_utc(column: str) -> str:
    """SQL for a stored SQLite time as text that compares in time order with `to_stored`'s.

    Piccolo's own form (`YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`, see is_canonical_stored) is
    compared as it is, in plain SQL; a time that raw SQL wrote with another offset, or none
    (UTC), goes through roster_utc first. GLOB is the cheapest exact test of that shape.
    """
    return (
        f"CASE WHEN {column} GLOB '????-??-?? ??:??:??+00:00' "
        f"OR {column} GLOB '????-??-?? ??:??:??.??????+00:00' "
        f"THEN {column} ELSE roster_utc({column}) END"
    )


def roster_sql(query: FetchQuery, sqlite: bool) -> tuple[str, Any]:
    """The one statement that lists the members `query` asks for, each row a (member, period)."""
    params = _Params(sqlite)
    name_order = "m.real_name" if sqlite else 'm.real_name COLLATE "C"'
    member_conditions = []
    if query.after is not None:
        member_conditions.append(
            f"({name_order}, m.id) > ({params.add(query.after.real_name)}, "
            f"{params.add(query.after.id, '::uuid')})"
        )
    if query.tz is not None:
        member_conditions.append(f"m.tz = {params.add(query.tz)}")
    if query.name is not None:
        if sqlite:
            member_conditions.append(
                "instr(roster_lower(m.real_name), "
                f"{params.add(lower_each_character(query.name))}) > 0"
            )
        else:
            member_conditions.append(
                f"strpos(lower(m.real_name), lower({params.add(query.name)})) > 0"
            )
    window = []
    for column, operator, moment in (
        ("end_time", ">=", query.since),
        ("start_time", "<=", query.until),
    ):
        if moment is not None:
            if sqlite:
                stored = _sqlite_utc(f"{{alias}}.{column}")
                window.append(f"{stored} {operator} {params.add(to_stored(moment))}")
            else:
                window.append(f"{{alias}}.{column} {operator} {params.add(moment)}")
    if window:
        inside = " AND ".join(condition.format(alias="q") for condition in window)
        member_conditions.append(
            f"EXISTS (SELECT 1 FROM activity_period AS q WHERE q.member = m.id AND {inside})"
        )
    join_window = "".join(" AND " + condition.format(alias="p") for condition in window)
    where = f" WHERE {' AND '.join(member_conditions)}" if member_conditions else ""
    member_id = "m.id" if sqlite else "m.id::text"
    columns = f"{member_id}, m.real_name, m.tz, p.start_time, p.end_time"
    if sqlite:
        join = f"LEFT JOIN activity_period AS p ON p.member = m.id{join_window}"
    else:
        # LATERAL with OFFSET 0 (not flattened into a hash join) keeps PostgreSQL on the
        # per-member index lookup instead of scanning every period for one page.
        join = (
            "LEFT JOIN LATERAL (SELECT p.start_time, p.end_time, p.id FROM activity_period AS p "
            f"WHERE p.member = m.id{join_window} OFFSET 0) AS p ON true"
        )
    order = f"{name_order}, m.id, p.start_time, p.id"
    if query.limit is None:
        sql = f"SELECT {columns} FROM member AS m {join}{where} ORDER BY {order}"
    else:
        # One member more than asked tells whether another page follows.
        page = (
            f"SELECT m.id, m.real_name, m.tz FROM member AS m{where} "
            f"ORDER BY {name_order}, m.id LIMIT {params.add(query.limit + 1)}"
        )
        sql = f"SELECT {columns} FROM ({page}) AS m {join} ORDER BY {order}"
    return sql, params.bound()


class _Shaper:
    """Turns (member, period) rows into encoded member objects in the requested style."""

    def __init__(self, style: str, sqlite: bool):
        self.fullthrottle = style == "fullthrottle"
        self.sqlite = sqlite

    def member(self, rows: list[Any]) -> MemberOut | FullThrottleMember:
        member_id, real_name, tz = rows[0][0], rows[0][1], rows[0][2]
        spans = [(row[3], row[4]) for row in rows if row[3] is not None]
        if self.fullthrottle:
            zone = zone_named(tz)
            if self.sqlite:
                spans = [(parse_stored(start), parse_stored(end)) for start, end in spans]
                spans.sort(key=lambda span: span[0])
            periods = [
                Period(format_fullthrottle(start, zone), format_fullthrottle(end, zone))
                for start, end in spans
            ]
            return FullThrottleMember(member_id, real_name, tz, periods)
        if self.sqlite:
            if not all(is_canonical_stored(start) for start, _ in spans):
                spans.sort(key=lambda span: parse_stored(span[0]))
            periods = [
                Period(seed_from_stored(start), seed_from_stored(end)) for start, end in spans
            ]
        else:
            periods = [Period(format_seed(start), format_seed(end)) for start, end in spans]
        return MemberOut(member_id, real_name, tz, periods)


async def render(snapshot: Snapshot, query: FetchQuery, sqlite: bool) -> AsyncIterator[bytes]:
    """The JSON document for `query`, in chunks, built from the snapshot's rows."""
    shaper = _Shaper(query.style, sqlite)
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
