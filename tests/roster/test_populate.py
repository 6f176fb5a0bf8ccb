"""`piccolo home populate`: counts, valid rows, reproducibility, bad input, all or nothing."""

from __future__ import annotations

import itertools
import string
from datetime import UTC, datetime, timedelta

import pytest

from home.roster.demo import BATCH_MEMBERS, PopulateError, generate, populate_roster
from home.roster.tables import ActivityPeriod, Member
from home.roster.validation import known_zones
from home.storage.sqlite import to_stored
from home.tooling import cli
from tests.factories import make_member


def run_cli(env: dict[str, str], *args: str):
    """Run `piccolo home populate ARGS` against the test database."""
    return cli.piccolo("home", "populate", *args, env=env)


async def test_populate_cli_creates_members_with_three_periods_each(db, cli_env):
    result = run_cli(cli_env, "10")
    assert result.returncode == 0, result.stderr
    assert "Created 10 members and 30 activity periods in" in result.stdout
    assert await Member.count() == 10
    assert await ActivityPeriod.count() == 30


async def test_populate_cli_periods_option(db, cli_env):
    result = run_cli(cli_env, "4", "--periods=5")
    assert result.returncode == 0, result.stderr
    assert await Member.count() == 4
    assert await ActivityPeriod.count() == 20


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["0"], "count must be from 1 to 1,000,000, not 0"),
        (["-3"], "count must be from 1 to 1,000,000, not -3"),
        (["abc"], "count must be a whole number from 1 to 1,000,000, not 'abc'"),
        (["99999999999"], "count must be from 1 to 1,000,000, not 99,999,999,999"),
        (["5", "--periods=-1"], "--periods must be from 0 to 100, not -1"),
        (["5", "--seed=x"], "--seed must be a whole number"),
    ],
)
async def test_populate_cli_refuses_bad_input_in_one_line(db, cli_env, args, says):
    await make_member("ALREADY")
    result = run_cli(cli_env, *args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
    assert await Member.count() == 1
    assert await ActivityPeriod.count() == 0


async def test_populate_cli_same_seed_twice_fails_in_one_line_writing_nothing(db, cli_env):
    assert run_cli(cli_env, "3", "--seed=5").returncode == 0
    again = run_cli(cli_env, "3", "--seed=5")
    assert again.returncode != 0
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1, again.stderr
    assert lines[0].startswith("populate: nothing was written:")
    assert "use another --seed" in lines[0]
    assert await Member.count() == 3


async def test_populate_cli_flag_without_value_says_how_to_write_it(db, cli_env):
    result = run_cli(cli_env, "3", "--seed")
    assert result.returncode != 0
    assert result.stderr.strip() == "populate: --seed needs its value after '=', e.g. --seed=42"
    assert await Member.count() == 0


async def test_populate_writes_every_row_valid(adapter):
    now = datetime(2026, 11, 30, 23, 30, 15, tzinfo=UTC)  # late evening: zones east are a day on
    await populate_roster(adapter, 25, periods=4, days=30, now=now)
    members = await Member.select()
    periods = (
        await ActivityPeriod.select()
        .order_by(ActivityPeriod.member)
        .order_by(ActivityPeriod.start_time)
    )
    assert len(members) == 25 and len(periods) == 100
    zones = known_zones()
    for member in members:
        name = member["real_name"]
        assert len(name) == 10 and set(name) <= set(string.ascii_uppercase)
        assert member["tz"] in zones
    by_member: dict = {}
    for period in periods:
        assert period["start_time"] < period["end_time"]
        # Sessions over the past 30 days, in every member's zone: `populate --help`'s promise.
        assert now - timedelta(days=30) <= period["start_time"]
        assert period["end_time"] <= now
        by_member.setdefault(period["member"], []).append(period)
    assert len(by_member) == 25
    for spans in by_member.values():
        assert len(spans) == 4
        for earlier, later in itertools.pairwise(spans):
            assert earlier["end_time"] < later["start_time"], "periods overlap"


async def test_populate_reads_the_clock_when_given_none(adapter):
    before = datetime.now(UTC)
    await populate_roster(adapter, 5, periods=2, days=3)
    after = datetime.now(UTC)
    periods = await ActivityPeriod.select(ActivityPeriod.start_time, ActivityPeriod.end_time)
    assert len(periods) == 10
    for period in periods:
        # The clock is read once between `before` and `after` (to the second).
        assert before - timedelta(days=3, seconds=1) <= period["start_time"]
        assert period["end_time"] <= after


def test_populate_seed_makes_the_run_reproducible():
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    first = generate(5, 3, seed=42, now=now)
    again = generate(5, 3, seed=42, now=now + timedelta(hours=3))
    other = generate(5, 3, seed=43, now=now)

    def flat(rows):
        return [(m.id, m.real_name, m.tz, spans) for m, spans in rows]

    assert flat(first) == flat(again)
    assert flat(first) != flat(other)


async def test_populate_writes_the_planned_rows_in_the_engines_own_form(db, adapter):
    """What a seeded run writes is what `generate` plans for it, across batches; on SQLite the
    times are stored as the text Piccolo itself writes (the database makes it from seconds)."""
    count = BATCH_MEMBERS + 3
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    planned = generate(count, 2, seed=5, now=now)
    await populate_roster(adapter, count, periods=2, seed=5, now=now)
    expected = sorted(
        (str(member.id), member.real_name, member.tz, start, end)
        for member, spans in planned
        for start, end in spans
    )
    rows = await ActivityPeriod.select(
        ActivityPeriod.member,
        ActivityPeriod.member.real_name,
        ActivityPeriod.member.tz,
        ActivityPeriod.start_time,
        ActivityPeriod.end_time,
    )
    assert (
        sorted(
            tuple(str(value) if i == 0 else value for i, value in enumerate(row.values()))
            for row in rows
        )
        == expected
    )
    if db.kind == "sqlite":
        texts = await db.engine.run_ddl(  # expressions: not converted by their declared type
            "SELECT member || '' AS member, start_time || '' AS start_time, "
            "end_time || '' AS end_time, typeof(start_time) AS kind FROM activity_period"
        )
        assert sorted((row["member"], row["start_time"], row["end_time"]) for row in texts) == [
            (member, to_stored(start), to_stored(end)) for member, _, _, start, end in expected
        ]
        assert {row["kind"] for row in texts} == {"text"}


async def test_populate_cli_seed_gives_same_rows_twice(db, cli_env):
    assert run_cli(cli_env, "3", "--seed=7").returncode == 0
    first = await Member.select(Member.real_name, Member.tz).order_by(Member.real_name)
    await Member.delete(force=True)
    assert run_cli(cli_env, "3", "--seed=7").returncode == 0
    assert await Member.select(Member.real_name, Member.tz).order_by(Member.real_name) == first


async def test_populate_is_all_or_nothing(adapter):
    # Plant a member whose id the run will generate in its second batch: the first
    # batch is already written when the insert fails, and must be rolled back.
    count = BATCH_MEMBERS + 10
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    planned = generate(count, 3, seed=11, now=now)
    clash = planned[BATCH_MEMBERS + 5][0]
    await Member(id=clash.id, real_name="PLANTED", tz="UTC").save()
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        await populate_roster(adapter, count, seed=11, now=now)
    assert await Member.count() == 1
    assert await ActivityPeriod.count() == 0


async def test_populate_refuses_bad_counts_before_writing(adapter):
    for bad in (0, -3, "abc", 10**9):
        with pytest.raises(PopulateError):
            await populate_roster(adapter, bad)
    assert await Member.count() == 0
