"""The one statement that reads the roster for /fetch/, written once for both engines.

Members come in the API's order (real_name in byte order, then id), one row each, with
their finished periods (by start_time; a running session has no end yet and is not listed)
gathered into one column by the database, so a request sends the same number of statements
whether the roster holds one member or a million. Plain SQL rather than the ORM: the read
path streams rows from a cursor inside one snapshot, which Piccolo's queries do not offer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from home.storage.base import Dialect


class After(Protocol):
    """Where the previous page ended."""

    real_name: str
    id: str


class RosterFilter(Protocol):
    """What to read: a page (`limit` members after `after`) and filters."""

    limit: int | None
    after: After | None
    tz: str | None
    name: str | None
    since: datetime | None
    until: datetime | None
    member_id: str | None


def roster_statement(dialect: Dialect, query: RosterFilter) -> tuple[str, Any]:
    """SQL and parameters listing the members `query` asks for, a row each:
    `(id, real_name, tz, periods)`, `periods` in the form the engine's `StoredTimes.periods`
    reads; with `member_id`, a fifth column: the start of that member's running session, or
    NULL."""
    params = dialect.params()
    name_order = dialect.name_order("m.real_name")
    member_conditions = []
    if query.after is not None:
        member_conditions.append(
            f"({name_order}, m.id) > ({params.add(query.after.real_name)}, "
            f"{params.add(query.after.id, 'uuid')})"
        )
    if query.member_id is not None:
        member_conditions.append(f"m.id = {params.add(query.member_id, 'uuid')}")
    if query.tz is not None:
        member_conditions.append(f"m.tz = {params.add(query.tz)}")
    if query.name is not None:
        member_conditions.append(dialect.contains_ignoring_case("m.real_name", params, query.name))
    window = []
    for column, operator, moment in (
        ("end_time", ">=", query.since),
        ("start_time", "<=", query.until),
    ):
        if moment is not None:
            window.append((column, operator, moment))

    def inside(alias: str) -> list[str]:
        return [f"{alias}.end_time IS NOT NULL"] + [
            dialect.time_compare(f"{alias}.{column}", operator, params, moment)
            for column, operator, moment in window
        ]

    if window:
        member_conditions.append(
            "EXISTS (SELECT 1 FROM activity_period AS q WHERE q.member = m.id AND "
            f"{' AND '.join(inside('q'))})"
        )
    periods = dialect.member_periods("m.id", "".join(f" AND {c}" for c in inside("p")))
    where = f" WHERE {' AND '.join(member_conditions)}" if member_conditions else ""
    columns = f"{dialect.id_text('m.id')}, m.real_name, m.tz, {periods}"
    if query.member_id is not None:
        # One member's running session too, read in the same statement as the finished ones.
        columns += (
            ", (SELECT r.start_time FROM activity_period AS r "
            "WHERE r.member = m.id AND r.end_time IS NULL)"
        )
    order = f"{name_order}, m.id"
    if query.limit is None:
        sql = f"SELECT {columns} FROM member AS m{where} ORDER BY {order}"
    else:
        # One member more than asked tells whether another page follows.
        page = (
            f"SELECT m.id, m.real_name, m.tz FROM member AS m{where} "
            f"ORDER BY {order} LIMIT {params.add(query.limit + 1)}"
        )
        sql = f"SELECT {columns} FROM ({page}) AS m ORDER BY {order}"
    return sql, dialect.bound(params)
