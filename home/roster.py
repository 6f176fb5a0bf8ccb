"""Reading the roster: members with their periods, in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict

from home.db import engine
from home.schemas import MemberOut, Period
from home.tables import ActivityPeriod, Member
from home.timefmt import format_seed


def _name_order() -> str:
    # Byte order on both engines, so SQLite and PostgreSQL list members identically.
    return 'real_name COLLATE "C"' if engine().engine_type == "postgres" else "real_name"


async def load_members() -> list[MemberOut]:
    """Every member ordered by (real_name, id), each with their periods by start_time."""
    members = await Member.raw(
        f"SELECT id, real_name, tz FROM member ORDER BY {_name_order()}, id"
    )
    periods = await ActivityPeriod.raw(
        "SELECT member, start_time, end_time FROM activity_period "
        "ORDER BY member, start_time, id"
    )
    by_member: dict[str, list[Period]] = defaultdict(list)
    for row in periods:
        by_member[str(row["member"])].append(
            Period(start_time=format_seed(row["start_time"]), end_time=format_seed(row["end_time"]))
        )
    return [
        MemberOut(
            id=str(row["id"]),
            real_name=row["real_name"],
            tz=row["tz"],
            activity=by_member.get(str(row["id"]), []),
        )
        for row in members
    ]
