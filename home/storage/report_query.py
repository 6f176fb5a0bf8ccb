"""The statements the reports read, written once for both engines.

Plain SQL for the same reason as the roster's: the reports read whole tables in one snapshot
and want times as Unix seconds, which the dialect computes in the database.
"""

from __future__ import annotations

from typing import Any

from home.storage.base import Dialect

MEMBERS = "SELECT {id}, m.real_name, m.tz FROM member AS m ORDER BY {name}, m.id"
ZONES = "SELECT tz, count(*) AS members FROM member GROUP BY tz ORDER BY count(*) DESC, tz"


def members(dialect: Dialect) -> tuple[str, Any]:
    """Every member `(id, real_name, tz)` in the API's order."""
    sql = MEMBERS.format(id=dialect.id_text("m.id"), name=dialect.name_order("m.real_name"))
    return sql, dialect.bound(dialect.params())


def periods(dialect: Dialect, since: float, until: float) -> tuple[str, Any]:
    """Periods that touch [since, until) (Unix seconds), running ones included:
    `(member id, start, end or NULL)`, times in the dialect's `scale`, in no particular order."""
    params = dialect.params()
    start, end = dialect.instant("p.start_time"), dialect.instant("p.end_time")
    scale = dialect.scale
    sql = (
        f"SELECT {dialect.id_text('p.member')}, {start}, {end} FROM activity_period AS p "
        f"WHERE {start} < {params.add(scale.number(until))} "
        f"AND ({end} IS NULL OR {end} > {params.add(scale.number(since))})"
    )
    return sql, dialect.bound(params)


def running(dialect: Dialect) -> tuple[str, Any]:
    """Members with a running session `(id, real_name, tz, started)`, earliest start first;
    the start in the dialect's `scale`."""
    sql = (
        f"SELECT {dialect.id_text('m.id')}, m.real_name, m.tz, {dialect.instant('p.start_time')} "
        "FROM activity_period AS p JOIN member AS m ON m.id = p.member "
        f"WHERE p.end_time IS NULL ORDER BY p.start_time, {dialect.name_order('m.real_name')}"
    )
    return sql, dialect.bound(dialect.params())


def zones(dialect: Dialect) -> tuple[str, Any]:
    """How many members each time zone has, the most first."""
    return ZONES, dialect.bound(dialect.params())
