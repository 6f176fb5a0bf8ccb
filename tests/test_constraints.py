"""The database itself guards the data: CHECK constraints and cascades."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from home.tables import ActivityPeriod, Member
from home.validation import check_period, check_real_name, check_tz
from tests.factories import make_member, make_period

START = datetime(2020, 6, 20, 14, 29, tzinfo=UTC)


async def test_database_refuses_period_ending_before_it_starts(db):
    member = await make_member()
    with pytest.raises(Exception, match="(?i)check|ends_after_start"):
        await make_period(member, START, START - timedelta(seconds=1))
    assert await ActivityPeriod.count() == 0


async def test_database_refuses_it_through_raw_sql_too(db):
    member = await make_member()
    sql = "INSERT INTO activity_period (member, start_time, end_time) VALUES ({}, {}, {})"
    with pytest.raises(Exception, match="(?i)check|ends_after_start"):
        await ActivityPeriod.raw(sql, member.id, START, START - timedelta(minutes=5))
    assert await ActivityPeriod.count() == 0


async def test_database_accepts_zero_length_period(db):
    member = await make_member()
    await make_period(member, START, START)
    assert await ActivityPeriod.count() == 1


async def test_database_refuses_empty_name(db):
    with pytest.raises(Exception, match="(?i)check|real_name_not_empty"):
        await Member.raw(
            "INSERT INTO member (id, real_name, tz) VALUES ({}, '', 'UTC')",
            "8d7b6a0e-9b4c-4a8f-9c56-0a3f2f6c1d11",
        )
    assert await Member.count() == 0


async def test_deleting_member_deletes_their_periods(db):
    keep, drop = await make_member(), await make_member()
    await make_period(keep)
    await make_period(drop)
    await make_period(drop, START + timedelta(days=40))
    await Member.delete().where(Member.id == drop.id)
    assert await ActivityPeriod.count() == 1
    assert await ActivityPeriod.count().where(ActivityPeriod.member == keep.id) == 1


def test_application_rules_say_what_to_change():
    with pytest.raises(ValueError, match="must end at or after its start"):
        check_period(START, START - timedelta(minutes=1))
    with pytest.raises(ValueError, match="not a known IANA time zone"):
        check_tz("Mars/Olympus")
    with pytest.raises(ValueError, match="must not be empty"):
        check_real_name("   ")
    with pytest.raises(ValueError, match="NUL"):
        check_real_name("A\x00B")
    with pytest.raises(ValueError, match="the limit is 100"):
        check_real_name("X" * 101)
    with pytest.raises(ValueError, match="between the years 1900 and 2999"):
        check_period(datetime(9999, 12, 31, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
    for not_a_zone in ("localtime", "Factory", "posixrules", "posix/Asia/Tokyo", "right/UTC"):
        with pytest.raises(ValueError, match="not a known IANA time zone"):
            check_tz(not_a_zone)
    assert check_tz("US/Pacific") == "US/Pacific"
    assert check_tz("Asia/Kolkata") == "Asia/Kolkata"
