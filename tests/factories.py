"""The one place tests build roster data."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from home.roster.tables import ActivityPeriod, Member

_names = (f"MEMBER{i:04d}" for i in itertools.count())
BASE_TIME = datetime(2020, 6, 20, 14, 29, tzinfo=UTC)


async def make_member(real_name: str | None = None, tz: str = "UTC") -> Member:
    """Save and return a member."""
    member = Member(real_name=real_name or next(_names), tz=tz)
    await member.save()
    return member


async def make_period(
    member: Member,
    start_time: datetime = BASE_TIME,
    end_time: datetime | None = None,
) -> ActivityPeriod:
    """Save and return a period for `member` (30 days long unless told)."""
    period = ActivityPeriod(
        member=member.id,
        start_time=start_time,
        end_time=end_time if end_time is not None else start_time + timedelta(days=30),
    )
    await period.save()
    return period


async def make_roster(members: int, periods: int = 3) -> list[Member]:
    """Save `members` members with `periods` periods each, in bulk."""
    made = [Member(real_name=next(_names), tz="UTC") for _ in range(members)]
    await Member.insert(*made)
    rows = [
        ActivityPeriod(
            member=member.id,
            start_time=BASE_TIME + timedelta(days=i),
            end_time=BASE_TIME + timedelta(days=i, hours=1),
        )
        for member in made
        for i in range(periods)
    ]
    if rows:
        await ActivityPeriod.insert(*rows)
    return made


async def write_outside_app(db, statement: str) -> None:
    """Run one SQL write on a connection of its own, as an operator typing into the database."""
    if db.kind == "sqlite":
        import sqlite3

        connection = sqlite3.connect(db.env["SQLITE_PATH"], timeout=30, isolation_level=None)
        try:
            connection.execute(statement)
        finally:
            connection.close()
        return
    import asyncpg

    connection = await asyncpg.connect(db.env["DATABASE_URL"])
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def index_definitions(db, *tables: str) -> dict[str, str | None]:
    """Every index of `tables` by name, with its definition (None for SQLite's own indexes of
    a key or unique column)."""
    names = ", ".join(f"'{table}'" for table in tables)
    if db.kind == "sqlite":
        rows = await db.engine.run_ddl(
            "SELECT name, sql AS definition FROM sqlite_master "
            f"WHERE type = 'index' AND tbl_name IN ({names})"
        )
    else:
        rows = await db.engine.run_ddl(
            "SELECT indexname AS name, indexdef AS definition FROM pg_indexes "
            f"WHERE tablename IN ({names})"
        )
    return {row["name"]: row["definition"] for row in rows}
