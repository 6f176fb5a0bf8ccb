"""PostgreSQL: the data version is raised at commit, so writers never queue behind its row."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from tests.factories import make_member, make_roster
from tests.support.locks import lock_waits

# Long enough for a lock wait to show (the server's deadlock_timeout is 1 s), short for a test.
LOCK_WAIT = 3


@pytest.fixture
async def connect(pg):
    """Open plain connections to the test database, as separate clients would; close them all."""
    opened: list[asyncpg.Connection] = []

    async def open_one() -> asyncpg.Connection:
        connection = await asyncpg.connect(pg.env["DATABASE_URL"])
        opened.append(connection)
        return connection

    yield open_one
    for connection in opened:
        await connection.close(timeout=5)


async def version(connection: asyncpg.Connection) -> int:
    return await connection.fetchval("SELECT version FROM roster_version WHERE id = 1")


async def pending_rows(connection: asyncpg.Connection) -> int:
    return await connection.fetchval("SELECT count(*) FROM roster_version_pending")


def rename(member_id, name: str) -> tuple[str, str, object]:
    return ("UPDATE member SET real_name = $1 WHERE id = $2", name, member_id)


async def test_crossed_updates_of_two_transactions_both_commit(connect):
    x, y = await make_roster(2, periods=0)
    a, b, observer = await connect(), await connect(), await connect()
    before = await version(observer)
    a_transaction, b_transaction = a.transaction(), b.transaction()
    await a_transaction.start()
    await a.execute(*rename(x.id, "A-X"))
    await b_transaction.start()
    # B's update must neither wait for A nor make A's next update a deadlock.
    await asyncio.wait_for(b.execute(*rename(y.id, "B-Y")), LOCK_WAIT)
    a_waits_for_b = asyncio.create_task(a.execute(*rename(y.id, "A-Y")))
    assert await lock_waits(observer.fetch) == ["transactionid"]  # A waits for B's row
    assert not a_waits_for_b.done()
    await b_transaction.commit()
    await asyncio.wait_for(a_waits_for_b, LOCK_WAIT)
    await a_transaction.commit()
    names = await observer.fetch("SELECT real_name FROM member ORDER BY real_name")
    assert [row["real_name"] for row in names] == ["A-X", "A-Y"]
    assert await version(observer) == before + 2
    assert await pending_rows(observer) == 0


async def test_open_write_transaction_does_not_block_other_writers(connect):
    (member,) = await make_roster(1, periods=0)
    a, b, observer = await connect(), await connect(), await connect()
    before = await version(observer)
    async with a.transaction():
        await a.execute(*rename(member.id, "STILL OPEN"))
        await asyncio.wait_for(
            b.execute("INSERT INTO member (real_name, tz) VALUES ('OTHER', 'UTC')"), LOCK_WAIT
        )
        assert await version(observer) == before + 1
        await asyncio.wait_for(b.execute("DELETE FROM member WHERE real_name = 'OTHER'"), LOCK_WAIT)
        assert await version(observer) == before + 2
    assert await version(observer) == before + 3


async def test_version_changes_exactly_when_the_transaction_commits(connect):
    writer, observer = await connect(), await connect()
    before = await version(observer)
    async with writer.transaction():
        await writer.execute("INSERT INTO member (real_name, tz) VALUES ('NEW', 'UTC')")
        await writer.execute("UPDATE member SET tz = 'Asia/Kolkata' WHERE real_name = 'NEW'")
        assert await version(observer) == before
        assert await version(writer) == before
        assert await pending_rows(writer) == 1
        assert await observer.fetchval("SELECT count(*) FROM member") == 0
    # One bump per transaction, visible together with its rows.
    assert await version(observer) == before + 1
    assert await observer.fetchval("SELECT count(*) FROM member") == 1
    assert await pending_rows(observer) == 0


async def test_reader_snapshot_sees_version_and_rows_change_together(connect):
    writer, reader = await connect(), await connect()
    async with reader.transaction(isolation="repeatable_read", readonly=True):
        seen = await version(reader)
        await writer.execute("INSERT INTO member (real_name, tz) VALUES ('LATER', 'UTC')")
        assert await version(reader) == seen
        assert await reader.fetchval("SELECT count(*) FROM member") == 0
    async with reader.transaction(isolation="repeatable_read", readonly=True):
        assert await version(reader) == seen + 1
        assert await reader.fetchval("SELECT count(*) FROM member") == 1


async def test_rolled_back_transaction_leaves_no_pending_row_and_no_bump(connect):
    writer, observer = await connect(), await connect()
    before = await version(observer)
    transaction = writer.transaction()
    await transaction.start()
    await writer.execute("INSERT INTO member (real_name, tz) VALUES ('GONE', 'UTC')")
    await transaction.rollback()
    assert await pending_rows(observer) == 0
    assert await version(observer) == before


async def test_savepoint_rollbacks_bump_only_for_the_writes_that_remain(connect):
    writer, observer = await connect(), await connect()
    before = await version(observer)
    # Everything written was rolled back to a savepoint: no change, no bump.
    async with writer.transaction():
        with pytest.raises(asyncpg.CheckViolationError):
            async with writer.transaction():
                await writer.execute("INSERT INTO member (real_name, tz) VALUES ('TRY', 'UTC')")
                await writer.execute("INSERT INTO member (real_name, tz) VALUES ('', 'UTC')")
    assert await version(observer) == before
    assert await pending_rows(observer) == 0
    # A write after the rolled-back savepoint still bumps at commit.
    async with writer.transaction():
        await writer.execute("SAVEPOINT s")
        await writer.execute("INSERT INTO member (real_name, tz) VALUES ('UNDONE', 'UTC')")
        await writer.execute("ROLLBACK TO SAVEPOINT s")
        await writer.execute("INSERT INTO member (real_name, tz) VALUES ('KEPT', 'UTC')")
    assert await version(observer) == before + 1
    # A write before a savepoint that is rolled back still bumps at commit.
    async with writer.transaction():
        await writer.execute("UPDATE member SET tz = 'Asia/Tokyo'")
        await writer.execute("SAVEPOINT s")
        await writer.execute("DELETE FROM member")
        await writer.execute("ROLLBACK TO SAVEPOINT s")
    assert await version(observer) == before + 2
    assert await observer.fetchval("SELECT tz FROM member") == "Asia/Tokyo"
    assert await pending_rows(observer) == 0


async def test_truncate_bumps_the_version(connect):
    await make_roster(3)
    observer = await connect()
    before = await version(observer)
    await observer.execute("TRUNCATE member CASCADE")
    assert await version(observer) == before + 1
    assert await pending_rows(observer) == 0


async def test_statement_that_changes_no_row_still_bumps(connect):
    # Statement-level triggers fire for every write statement; a needless bump is only a
    # re-render, while a missed one would serve stale data.
    await make_member()
    observer = await connect()
    before = await version(observer)
    await observer.execute("DELETE FROM activity_period WHERE id = -1")
    assert await version(observer) == before + 1
