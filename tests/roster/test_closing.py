"""Closed periods stay closed, whoever writes: the database refuses plain SQL that creates,
changes or deletes a period starting before the closing (and the delete of a member who has
one), on both engines; closing moves forward only, reopening moves it back; both are audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from home.roster import closing
from home.roster.demo import populate_roster
from home.roster.tables import ActivityPeriod, AuditEntry, Closing, Member
from tests.factories import make_member, make_period, write_outside_app

CLOSED = datetime(2026, 12, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
BEFORE = CLOSED - timedelta(days=2)  # a period of the closed month
AFTER = CLOSED + timedelta(days=1)  # a period still open


def sql_time(moment: datetime) -> str:
    """A time literal both engines read (Piccolo's stored form on SQLite)."""
    return f"'{moment.astimezone(UTC)}'"


async def periods() -> list[dict]:
    return await ActivityPeriod.select(
        ActivityPeriod.id, ActivityPeriod.start_time, ActivityPeriod.end_time
    ).order_by(ActivityPeriod.id)


@pytest.fixture
async def closed_roster(db, adapter):
    """A member with one closed period and one open period, the books closed at CLOSED."""
    member = await make_member("CLOSED BOOKS")
    old = await make_period(member, BEFORE, BEFORE + timedelta(hours=8))
    new = await make_period(member, AFTER, AFTER + timedelta(hours=8))
    await closing.close(adapter, CLOSED, "payroll", NOW)
    return member, old, new


async def test_plain_sql_cannot_touch_a_closed_period(db, closed_roster):
    member, old, new = closed_roster
    before = await periods()
    attempts = [
        # create one that starts before the closing (ending after it too)
        f"INSERT INTO activity_period (member, start_time, end_time) VALUES ('{member.id}', "
        f"{sql_time(CLOSED - timedelta(hours=1))}, {sql_time(CLOSED + timedelta(hours=1))})",
        # change a closed one: its end, or its start to after the closing
        f"UPDATE activity_period SET end_time = {sql_time(BEFORE + timedelta(hours=9))} "
        f"WHERE id = {old.id}",
        f"UPDATE activity_period SET start_time = {sql_time(AFTER + timedelta(hours=10))}, "
        f"end_time = {sql_time(AFTER + timedelta(hours=11))} WHERE id = {old.id}",
        # move an open one back into the closed time
        f"UPDATE activity_period SET start_time = {sql_time(BEFORE + timedelta(days=1))} "
        f"WHERE id = {new.id}",
        # delete a closed one, alone or with every other
        f"DELETE FROM activity_period WHERE id = {old.id}",
        "DELETE FROM activity_period",
        # delete the member who has one (its periods go first, in a trigger)
        f"DELETE FROM member WHERE id = '{member.id}'",
    ]
    for statement in attempts:
        with pytest.raises(Exception, match="activity_period_closed") as refused:
            await write_outside_app(db, statement)
        assert "activity_period_closed" in str(refused.value), statement
        assert await periods() == before, statement
    assert await Member.count() == 1


async def test_plain_sql_still_writes_what_starts_after_the_closing(db, closed_roster):
    member, _old, new = closed_roster
    later = AFTER + timedelta(days=1)
    await write_outside_app(
        db,
        f"INSERT INTO activity_period (member, start_time, end_time) VALUES ('{member.id}', "
        f"{sql_time(later)}, {sql_time(later + timedelta(hours=1))})",
    )
    await write_outside_app(
        db,
        f"UPDATE activity_period SET end_time = {sql_time(AFTER + timedelta(hours=9))} "
        f"WHERE id = {new.id}",
    )
    await write_outside_app(db, f"DELETE FROM activity_period WHERE id = {new.id}")
    # A period that starts exactly at the closing is open.
    await write_outside_app(
        db,
        f"INSERT INTO activity_period (member, start_time, end_time) VALUES ('{member.id}', "
        f"{sql_time(CLOSED)}, {sql_time(CLOSED + timedelta(hours=1))})",
    )
    assert await ActivityPeriod.count() == 3


async def test_a_member_without_closed_periods_can_be_deleted(db, closed_roster):
    other = await make_member("ONLY OPEN")
    await make_period(other, AFTER, AFTER + timedelta(hours=1))
    await write_outside_app(db, f"DELETE FROM member WHERE id = '{other.id}'")
    assert await Member.count() == 1


async def test_the_closing_is_audited_and_credited(db, closed_roster, adapter):
    [entry] = await AuditEntry.select().where(AuditEntry.table_name == "closing")
    assert entry["actor"] == "payroll" and entry["action"] == "update"
    assert "2026-12-01" in entry["after"]
    reopened = await closing.reopen(adapter, None, "boss", NOW)
    assert reopened.until is None and reopened.changed_by == "boss"
    entries = await AuditEntry.select(AuditEntry.actor, AuditEntry.after).where(
        AuditEntry.table_name == "closing"
    )
    assert [entry["actor"] for entry in entries] == ["payroll", "boss"]


async def test_reopening_lets_the_periods_change_again(db, closed_roster, adapter):
    member, old, _new = closed_roster
    reopened = await closing.reopen(adapter, BEFORE, "boss", NOW)
    assert reopened.until == BEFORE
    await write_outside_app(db, f"DELETE FROM activity_period WHERE id = {old.id}")
    await write_outside_app(db, f"DELETE FROM member WHERE id = '{member.id}'")
    assert await ActivityPeriod.count() == 0


async def test_closing_moves_forward_only_and_never_into_the_future(db, closed_roster, adapter):
    with pytest.raises(closing.ClosingError, match="would reopen some; a superuser reopens"):
        await closing.close(adapter, CLOSED - timedelta(seconds=1), "someone", NOW)
    with pytest.raises(closing.ClosingError, match="is in the future: close only what has"):
        await closing.close(adapter, NOW + timedelta(seconds=1), "someone", NOW)
    with pytest.raises(closing.ClosingError, match="needs a UTC offset"):
        await closing.close(adapter, datetime(2026, 12, 2), "someone", NOW)
    with pytest.raises(closing.ClosingError, match="reopening moves it back"):
        await closing.reopen(adapter, CLOSED, "boss", NOW)
    assert (await closing.current()).until == CLOSED
    later = await closing.close(adapter, CLOSED + timedelta(hours=1), "payroll", NOW)
    assert later.until == CLOSED + timedelta(hours=1)


async def test_closing_waits_for_a_running_session_that_started_before_it(db, adapter):
    member = await make_member("STILL AT WORK")
    await ActivityPeriod.insert(ActivityPeriod(member=member.id, start_time=BEFORE, end_time=None))
    with pytest.raises(closing.ClosingError, match="STILL AT WORK has a session running since"):
        await closing.close(adapter, CLOSED, "payroll", NOW)
    assert (await closing.current()).until is None
    # Up to its start is fine.
    assert (await closing.close(adapter, BEFORE, "payroll", NOW)).until == BEFORE


async def test_the_closing_row_is_made_again_if_deleted(db, adapter):
    await Closing.delete(force=True)
    assert (await closing.current()).until is None
    assert (await closing.close(adapter, CLOSED, "payroll", NOW)).until == CLOSED


async def test_populate_writes_nothing_into_closed_time(db, adapter):
    await closing.close(adapter, NOW - timedelta(days=1), "payroll", NOW)
    with pytest.raises(Exception, match="activity_period_closed"):
        await populate_roster(adapter, 20, 3, seed=4, now=NOW, days=30)
    assert await Member.count() == 0 and await ActivityPeriod.count() == 0
    # Sessions after the closing are written.
    await closing.reopen(adapter, NOW - timedelta(days=40), "boss", NOW)
    result = await populate_roster(adapter, 20, 3, seed=4, now=NOW, days=30)
    assert result.periods == 60
