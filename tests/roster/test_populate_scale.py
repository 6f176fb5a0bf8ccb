"""`piccolo home populate` at scale: batched, versioned, and all-or-nothing under Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime, timedelta

import pytest

from home.roster import demo
from home.roster.demo import generate, generate_batches, populate_roster
from home.roster.tables import ActivityPeriod, Member
from home.tooling.cli import PROJECT_DIR
from tests.factories import index_definitions, make_member, write_outside_app


async def roster_triggers(db) -> list[str]:
    if db.kind == "sqlite":
        rows = await db.engine.run_ddl(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
        )
        return [row["name"] for row in rows]
    rows = await db.engine.run_ddl(
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
    )
    return [row["tgname"] for row in rows]


@pytest.mark.parametrize("stored", [0, 50], ids=["empty", "larger-than-the-run"])
async def test_populate_leaves_every_index_as_it_was(db, adapter, stored):
    """On SQLite a run at least as large as the table rebuilds the secondary indexes after its
    inserts; a smaller run keeps them. Either way the same indexes serve the next query."""
    if stored:
        await populate_roster(adapter, stored, periods=1, seed=1)
    indexes = await index_definitions(db, "member", "activity_period")
    await populate_roster(adapter, 20, periods=3, seed=2)
    assert await index_definitions(db, "member", "activity_period") == indexes
    assert await Member.count() == stored + 20
    if db.kind == "sqlite":
        plan = await db.engine.run_ddl(
            "EXPLAIN QUERY PLAN SELECT start_time FROM activity_period WHERE member = 'x' "
            "ORDER BY start_time"
        )
        assert "activity_period_member_times" in plan[0]["detail"]


async def test_populate_writes_members_and_periods_and_bumps_the_version(db, adapter):
    before = await adapter.current_version()
    triggers = await roster_triggers(db)
    result = await populate_roster(adapter, 12_345, periods=3, seed=7)
    assert (result.members, result.periods) == (12_345, 37_035)
    assert await Member.count() == 12_345
    assert await ActivityPeriod.count() == 37_035
    after = await adapter.current_version()
    assert after.number > before.number
    assert await roster_triggers(db) == triggers, "version triggers must survive populate"
    # The triggers still work for the next writer.
    await make_member()
    assert (await adapter.current_version()).number > after.number


async def test_populate_periods_are_valid_and_never_overlap(adapter):
    await populate_roster(adapter, 200, periods=5, seed=3)
    rows = (
        await ActivityPeriod.select(
            ActivityPeriod.member, ActivityPeriod.start_time, ActivityPeriod.end_time
        )
        .order_by(ActivityPeriod.member)
        .order_by(ActivityPeriod.start_time)
    )
    by_member: dict = {}
    for row in rows:
        by_member.setdefault(row["member"], []).append((row["start_time"], row["end_time"]))
    assert len(by_member) == 200
    for spans in by_member.values():
        assert len(spans) == 5
        for (start, end), (next_start, _) in zip(spans, spans[1:], strict=False):
            assert start <= end < next_start
        assert spans[-1][1] - spans[0][0] <= timedelta(days=30)


def test_generation_is_reproducible_with_a_seed_and_bounded_per_batch():
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    first = generate(50, 3, seed=11, now=now)
    second = generate(50, 3, seed=11, now=now + timedelta(hours=11))
    assert [(m.id, m.real_name, m.tz, p) for m, p in first] == [
        (m.id, m.real_name, m.tz, p) for m, p in second
    ]
    sizes = [len(members) for members, _ in generate_batches(12_001, 3, seed=1, batch=5_000)]
    assert sizes == [5_000, 5_000, 2_001]


def test_generated_ids_are_version_4_uuids():
    import uuid

    for member, _ in generate(200, 0, seed=5):
        assert uuid.UUID(str(member.id)).version == 4


async def test_populate_rolls_back_on_a_failure_midway(adapter, monkeypatch):
    await make_member("KEPT")
    before = await adapter.current_version()
    real = demo.generate_batches

    def failing(*args, **kwargs):
        for number, batch in enumerate(real(*args, **kwargs)):
            if number == 2:
                raise RuntimeError("disk full")
            yield batch

    monkeypatch.setattr(demo, "generate_batches", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        await populate_roster(adapter, 20_000)
    assert [m["real_name"] for m in await Member.select(Member.real_name)] == ["KEPT"]
    assert await adapter.current_version() == before


async def test_ctrl_c_leaves_the_database_as_it_was(db, adapter, cli_env):
    await make_member("KEPT")
    await write_outside_app(db, "UPDATE member SET tz = 'UTC'")
    before = await adapter.current_version()
    triggers = await roster_triggers(db)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "piccolo.main", "home", "populate", "400000",
        cwd=PROJECT_DIR, env=cli_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        # Ctrl-C as a terminal sends it, even where this suite runs with SIGINT ignored (a
        # background job of a non-interactive shell): the child would inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        # Wait for the first progress report: batches are being written inside the transaction.
        seen = b""
        async with asyncio.timeout(60):
            while b"members" not in seen:
                seen += await process.stderr.read(200)
        assert b"/ 400,000 members" in seen, seen
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(60):
            _, rest = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode != 0
    assert b"interrupted" in rest, rest
    assert [m["real_name"] for m in await Member.select(Member.real_name)] == ["KEPT"]
    assert await ActivityPeriod.count() == 0
    assert await adapter.current_version() == before
    assert await roster_triggers(db) == triggers


async def test_a_run_whose_periods_overlap_writes_nothing(db, adapter, monkeypatch):
    """The database's no-overlap rule holds for a run too (on SQLite its triggers are
    suspended during the run, and the run's rows are checked instead)."""
    real = demo.generate_batches

    def overlapping(*args, **kwargs):
        for number, (members, spans) in enumerate(real(*args, **kwargs)):
            if number == 1:  # the second batch, after one was written
                member, start, end = spans[0]
                spans = [*spans, (member, start + 60, end + 60)]
            yield members, spans

    monkeypatch.setattr(demo, "generate_batches", overlapping)
    with pytest.raises(Exception, match="overlap|activity_period_no_overlap"):
        await populate_roster(adapter, 6_000, 3, seed=5)
    assert await Member.count() == 0
    assert await ActivityPeriod.count() == 0
