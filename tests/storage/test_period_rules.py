"""The database itself keeps a member's periods apart and one session running, on SQLite and
PostgreSQL: plain SQL is refused too, and so is every loser of a race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from home.roster.sessions import Conflict, add_period, start_session
from home.roster.tables import ActivityPeriod
from home.storage.base import Rule
from tests.api.test_members import at
from tests.factories import make_member, write_outside_app
from tests.support.locks import lock_waits

T = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def sql_time(moment: datetime) -> str:
    return moment.isoformat(sep=" ")


async def insert(db, member, start: datetime, end: datetime | None) -> None:
    """Write a period with plain SQL, outside the application."""
    end_sql = "NULL" if end is None else f"'{sql_time(end)}'"
    await write_outside_app(
        db,
        "INSERT INTO activity_period (member, start_time, end_time) "
        f"VALUES ('{member.id}', '{sql_time(start)}', {end_sql})",
    )


def refused(db):
    """The error a refused plain-SQL write raises on this engine."""
    import sqlite3

    import asyncpg

    return pytest.raises(sqlite3.IntegrityError if db.kind == "sqlite" else asyncpg.PostgresError)


H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (T + H / 2, T + 2 * H),  # starts inside
        (T - H, T + H / 2),  # ends inside
        (T + H / 4, T + H / 2),  # inside
        (T - H, T + 2 * H),  # around
        (T, T + H),  # the same
        (T + H / 2, None),  # a running session starting inside
        (T - H, None),  # a running session starting before
    ],
)
async def test_plain_sql_cannot_store_an_overlapping_period(db, start, end):
    member = await make_member()
    await insert(db, member, T, T + H)
    with refused(db):
        await insert(db, member, start, end)
    assert await ActivityPeriod.count() == 1


async def test_touching_and_zero_length_periods_and_other_members_are_fine(db):
    member, other = await make_member(), await make_member()
    await insert(db, member, T, T + H)
    await insert(db, member, T + H, T + 2 * H)  # starts when the last ended
    await insert(db, member, T - H, T)  # ends when the first starts
    await insert(db, member, T + H / 2, T + H / 2)  # zero length overlaps nothing
    await insert(db, other, T, T + H)
    await insert(db, member, T + 2 * H, None)  # running from the end of the last
    assert await ActivityPeriod.count() == 6


async def test_a_member_has_at_most_one_running_session(db):
    member = await make_member()
    await insert(db, member, T, None)
    with refused(db):
        await insert(db, member, T + 10 * H, None)
    with refused(db):
        await insert(db, member, T - 10 * H, None)


async def test_an_update_cannot_make_periods_overlap(db):
    member = await make_member()
    await insert(db, member, T, T + H)
    await insert(db, member, T + 2 * H, T + 3 * H)
    with refused(db):
        await write_outside_app(
            db,
            f"UPDATE activity_period SET end_time = '{sql_time(T + 2.5 * H)}' "
            f"WHERE start_time = '{sql_time(T)}'",
        )
    # Reopening a finished period while another of the member's periods follows it: refused.
    with refused(db):
        await write_outside_app(
            db, f"UPDATE activity_period SET end_time = NULL WHERE start_time = '{sql_time(T)}'"
        )


async def test_other_offsets_are_compared_as_instants(sqlite_db):
    member = await make_member()
    await insert(sqlite_db, member, T, T + H)
    # 10:30+01:00 is 09:30 UTC, inside the period, though its text sorts after it.
    with refused(sqlite_db):
        await write_outside_app(
            sqlite_db,
            "INSERT INTO activity_period (member, start_time, end_time) VALUES "
            f"('{member.id}', '2026-06-01 10:30:00+01:00', '2026-06-01 10:45:00+01:00')",
        )


async def test_racing_inserts_that_skip_the_apps_checks_store_exactly_one(db, adapter):
    member = await make_member()

    async def start_running(offset: int) -> bool:
        try:
            await ActivityPeriod.insert(
                ActivityPeriod(member=member.id, start_time=T + offset * H, end_time=None)
            )
        except Exception as error:
            # Refused by a rule (running sessions overlap each other too), not by anything else
            # such as a lock timeout or a pool running dry.
            assert adapter.broken_rule(error) in (Rule.ONE_RUNNING, Rule.NO_OVERLAP), error
            return False
        return True

    won = await asyncio.gather(*(start_running(offset) for offset in range(20)))
    assert sum(won) == 1
    assert await ActivityPeriod.count() == 1


async def test_fifty_concurrent_starts_leave_exactly_one_running_session(system):
    member = await system.add_member()
    answers = await asyncio.gather(*(system.start(member, at=at(1)) for _ in range(50)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 49, statuses
    assert all("already running" in a.json()["error"] for a in answers if a.status_code == 409)
    running = await ActivityPeriod.count().where(ActivityPeriod.end_time.is_null())
    assert running == 1 and await ActivityPeriod.count() == 1


async def test_fifty_concurrent_overlapping_periods_store_exactly_one(system):
    member = await system.add_member()
    answers = await asyncio.gather(
        *(system.add_period(member, at(10 - index / 10), at(5 - index / 10)) for index in range(50))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] + [409] * 49, statuses
    assert await ActivityPeriod.count() == 1


async def test_writers_of_one_member_take_turns_on_postgres(pg, app):
    """Concurrent conflicting inserts could each wait for the other's index entry (a deadlock
    PostgreSQL ends with an error after a second, not with the refusal). The application's
    writers of one member queue instead: the second sees the first's committed session and is
    refused cleanly, while another member's writer does not wait at all."""
    adapter = app.state.storage.adapter()
    member, other = await make_member(), await make_member()
    started, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with adapter.audited("test"):
            await start_session(adapter, str(member.id), T)
            started.set()
            await release.wait()

    async def second() -> None:
        async with adapter.audited("test"):
            await start_session(adapter, str(member.id), T + H)

    holder = asyncio.create_task(first())
    waiter = None
    try:
        await started.wait()
        async with adapter.audited("test"):
            await asyncio.wait_for(add_period(adapter, str(other.id), T, T + H), timeout=5)
        waiter = asyncio.create_task(second())
        # The second writer waits on the member's lock, before its insert.
        assert await lock_waits(pg.engine.run_ddl) == ["advisory"]
        assert not waiter.done()
    finally:
        release.set()
        await holder
    with pytest.raises(Conflict):
        await asyncio.wait_for(waiter, timeout=5)
    assert await ActivityPeriod.count() == 2
