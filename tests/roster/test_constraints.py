"""The database itself guards the data: CHECK constraints and cascades."""

from __future__ import annotations

import random
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone

import pytest

from home.roster.tables import ActivityPeriod, Member
from home.roster.validation import check_period, check_real_name, check_tz
from home.storage.base import Rule
from tests.factories import make_member, make_period, write_outside_app

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


async def test_each_refusal_text_names_its_rule(adapter):
    """The text of a refused write (what Piccolo Admin answers as `db_error`) names the rule it
    broke, on either engine, as the error itself does."""
    member = await make_member()
    await make_period(member, START, START + timedelta(hours=1))
    await make_period(member, START + timedelta(hours=2), None)
    attempts = [
        (Rule.ENDS_AFTER_START, START, START - timedelta(seconds=1)),
        (Rule.NO_OVERLAP, START + timedelta(minutes=30), START + timedelta(minutes=45)),
        (Rule.NO_OVERLAP, START + timedelta(days=1), None),  # the running one goes on
    ]
    for rule, start, end in attempts:
        with pytest.raises(Exception) as refused:
            await make_period(member, start, end)
        assert adapter.broken_rule(refused.value) is rule
        assert adapter.rule_in_text(str(refused.value)) is rule
    assert adapter.rule_in_text("some other error") is None
    assert await ActivityPeriod.count() == 2


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


async def test_raw_insert_without_id_gets_a_random_uuid(client, db):
    # As an operator would type into sqlite3 or psql: no id given.
    await write_outside_app(db, "INSERT INTO member (real_name, tz) VALUES ('RAW ONE', 'UTC')")
    await write_outside_app(
        db, "INSERT INTO member (real_name, tz) VALUES ('RAW TWO', 'UTC'), ('RAW THREE', 'UTC')"
    )
    rows = await Member.select(Member.id, Member.real_name).order_by(Member.real_name)
    ids = [str(row["id"]) for row in rows]
    assert len(set(ids)) == 3
    for text in ids:
        assert str(uuid.UUID(text)) == text  # lowercase 8-4-4-4-12
        assert uuid.UUID(text).version == 4
    members = (await client.get("/fetch/")).json()["members"]
    assert [(m["id"], m["real_name"]) for m in members] == [
        (row_id, row["real_name"]) for row_id, row in zip(ids, rows, strict=True)
    ]


async def test_sqlite_raw_insert_returning_reports_the_stored_id(sqlite_db):
    with closing(sqlite3.connect(sqlite_db.env["SQLITE_PATH"], isolation_level=None)) as sql:
        (returned,) = sql.execute(
            "INSERT INTO member (real_name, tz) VALUES ('RETURNING', 'UTC') RETURNING id"
        ).fetchone()
    assert str((await Member.select(Member.id).first())["id"]) == returned


@pytest.mark.parametrize(
    ("start", "end"),
    [
        # Ends at 12:00 UTC, three hours before it starts (15:00 UTC).
        ("2020-06-20 10:00:00-05:00", "2020-06-20 12:00:00+00:00"),
        ("2020-06-20T20:00:00+05:30", "2020-06-20T14:29:59Z"),
        # One microsecond, in the form Piccolo writes.
        ("2020-06-20 14:29:00.000001+00:00", "2020-06-20 14:29:00+00:00"),
        ("2020-06-20 14:29:00.000002+00:00", "2020-06-20 14:29:00.000001+00:00"),
    ],
)
async def test_database_refuses_raw_period_ending_before_it_starts_at_any_offset(db, start, end):
    member = await make_member()
    statement = (
        "INSERT INTO activity_period (member, start_time, end_time) "
        f"VALUES ('{member.id}', '{start}', '{end}')"
    )
    with pytest.raises(Exception, match="(?i)check|ends_after_start"):
        await write_outside_app(db, statement)
    assert await ActivityPeriod.count() == 0


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        # 14:30 to 15:00 UTC: the text of the end sorts before the text of the start.
        ("2020-06-20 20:00:00+05:30", "2020-06-20 15:00:00+00:00", "June 20 2020 14:30"),
        ("2020-06-20 20:00:00+05:30", "2020-06-20 20:30:00+05:30", "June 20 2020 14:30"),
        # Zero length, written with two offsets.
        ("2020-06-20 15:00:00+00:00", "2020-06-20 10:00:00-05:00", "June 20 2020 15:00"),
        ("2020-06-20 15:00:00.000000+00:00", "2020-06-20 15:00:00+00:00", "June 20 2020 15:00"),
    ],
)
async def test_database_accepts_raw_period_written_with_any_offset(client, db, start, end, shown):
    member = await make_member()
    await write_outside_app(
        db,
        "INSERT INTO activity_period (member, start_time, end_time) "
        f"VALUES ('{member.id}', '{start}', '{end}')",
    )
    (period,) = (await client.get("/fetch/")).json()["members"][0]["activity"]
    assert period["start_time"] == shown


def _written(moment: datetime, rng: random.Random) -> str:
    """`moment` as someone might write it in SQL: Piccolo's UTC text or another offset."""
    if rng.random() < 0.5:
        return str(moment.astimezone(UTC))
    offset = timezone(timedelta(minutes=rng.choice([-300, -1, 0, 1, 330, 765])))
    text = moment.astimezone(offset).isoformat(sep=rng.choice(" T"))
    return text.replace("+00:00", "Z") if rng.random() < 0.3 else text


async def test_sqlite_period_check_agrees_with_time_order(sqlite_db):
    member = await make_member()
    rng = random.Random(20200620)
    with closing(sqlite3.connect(sqlite_db.env["SQLITE_PATH"], isolation_level=None)) as sql:
        sql.execute("BEGIN")
        for _ in range(3000):
            start = START + timedelta(microseconds=rng.randrange(10**7))
            step = rng.choice([0, 1, 999, 1000, 10**6]) * rng.choice([-1, 1])
            end = start + timedelta(microseconds=step)
            start_text, end_text = _written(start, rng), _written(end, rng)
            try:
                sql.execute(
                    "INSERT INTO activity_period (member, start_time, end_time) VALUES (?, ?, ?)",
                    (str(member.id), start_text, end_text),
                )
                accepted = True
                # Periods of one member never overlap: each one is tried alone.
                sql.execute("DELETE FROM activity_period")
            except sqlite3.IntegrityError:
                accepted = False
            piccolo_text = all(
                text.endswith("+00:00") and text[10] == " " for text in (start_text, end_text)
            )
            if piccolo_text or abs(end - start) >= timedelta(milliseconds=1):
                assert accepted == (end >= start), (start_text, end_text)
            else:
                # Other forms less than a millisecond apart (SQLite's time precision): a valid
                # period is never refused; one ending just before its start may pass.
                assert accepted or end < start, (start_text, end_text)
        sql.execute("ROLLBACK")
