"""Migrations: forwards on an empty database yields the tables the code expects; backwards works."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime

import pytest
from piccolo.apps.migrations.commands.backwards import run_backwards
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.tables import SessionsBase

from home.admin.site import AdminActivityPeriod
from home.changes.feed import FeedGone, encode_cursor, read_changes
from home.changes.tables import WebhookEndpoint
from home.roster.tables import Member
from home.storage.sqlite_engine import RosterSQLiteEngine
from tests import piccolo_conf
from tests.conftest import bind, migrate
from tests.factories import index_definitions


async def _columns(db, table: str) -> set[str]:
    if db.kind == "sqlite":
        rows = await db.engine.run_ddl(f'PRAGMA table_xinfo("{table}")')
        return {row["name"] for row in rows}
    rows = await db.engine.run_ddl(
        "SELECT column_name AS name FROM information_schema.columns "
        f"WHERE table_schema = 'public' AND table_name = '{table}'"
    )
    return {row["name"] for row in rows}


async def test_migrations_create_every_table_the_code_uses(db):
    # The `db` fixture ran `migrations forwards all` on a brand-new empty database.
    # AdminActivityPeriod adds the database-computed `duration` column to ActivityPeriod.
    for table in (Member, AdminActivityPeriod, BaseUser, SessionsBase):
        expected = {column._meta.db_column_name for column in table._meta.columns}
        assert await _columns(db, table._meta.tablename) == expected, table._meta.tablename


async def test_migrations_index_the_foreign_key(db):
    """Lookups by member (the cascade's too) use the index that also covers the times."""
    indexes = await index_definitions(db, "activity_period")
    assert "activity_period_member_times" in indexes
    assert "activity_period_member" not in indexes
    if db.kind == "sqlite":
        plan = await db.engine.run_ddl(
            "EXPLAIN QUERY PLAN SELECT start_time, end_time FROM activity_period "
            "WHERE member = 'x' ORDER BY start_time"
        )
        assert "COVERING INDEX activity_period_member_times" in plan[0]["detail"]
    else:
        assert (
            "(member, start_time) INCLUDE (end_time, id)" in indexes["activity_period_member_times"]
        )


async def test_tables_are_usable_after_migrating(db):
    member = Member(real_name="MIGRATED", tz="UTC")
    await member.save()
    assert await Member.select(Member.real_name).first() == {"real_name": "MIGRATED"}


async def _schema_text(db) -> str:
    if db.kind == "sqlite":
        # Sorted: a table rebuilt by a migration is listed in another place.
        rows = await db.engine.run_ddl(
            "SELECT group_concat(sql, ';') AS text "
            "FROM (SELECT sql FROM sqlite_master ORDER BY sql)"
        )
    else:
        rows = await db.engine.run_ddl(
            "SELECT string_agg(tgname || ':' || tgfoid::regproc::text, ';' ORDER BY tgname) "
            "AS text FROM pg_trigger WHERE NOT tgisinternal"
        )
    return rows[0]["text"]


async def test_raise_version_at_commit_migration_goes_backwards_and_forwards(fresh):
    migrated = await _schema_text(fresh)
    result = await run_backwards(
        app_name="home", migration_id="2026-11-27T10:00:00:000000", auto_agree=True
    )
    assert result.success, result.message
    reverted = await _schema_text(fresh)
    if fresh.kind == "sqlite":
        assert "DEFAULT None" in reverted
        assert "CHECK (end_time >= start_time)" in reverted
    else:
        assert "roster_version_bump" in reverted
        assert "roster_version_bump_at_commit" not in reverted
    member = Member(real_name="BETWEEN", tz="UTC")
    await member.save()
    await migrate()
    assert await _schema_text(fresh) == migrated
    assert await Member.count() == 1
    await Member.delete(force=True)
    assert await Member.count() == 0


async def test_sqlite_migration_gives_a_member_stored_as_none_a_uuid(tmp_path):
    previous = piccolo_conf.DB
    path = tmp_path / "old.sqlite"
    bind(RosterSQLiteEngine(path=str(path), timeout=30))
    try:
        for app in ("user", "session_auth"):
            assert (await run_forwards(app_name=app)).success
        before = await run_forwards(app_name="home", migration_id="2026-11-26T15:30:00:000000")
        assert before.success, before.message
        with closing(sqlite3.connect(path, isolation_level=None)) as sql:
            sql.execute("PRAGMA foreign_keys = ON")
            sql.execute("INSERT INTO member (real_name, tz) VALUES ('TYPED', 'UTC')")
            sql.execute(
                "INSERT INTO activity_period (member, start_time, end_time) "
                "VALUES ('None', '2020-06-20 14:29:00+00:00', '2020-06-20 15:29:00+00:00')"
            )
            assert sql.execute("SELECT id FROM member").fetchall() == [("None",)]
        await migrate()
        with closing(sqlite3.connect(path, isolation_level=None)) as sql:
            ((member_id,),) = sql.execute("SELECT id FROM member").fetchall()
            assert sql.execute("SELECT member FROM activity_period").fetchall() == [(member_id,)]
        assert uuid.UUID(member_id).version == 4
    finally:
        bind(previous)


async def test_sessions_migration_stops_and_names_overlapping_periods(fresh):
    """Rows that break the new rule are never changed: the migration names them and stops."""
    back = await run_backwards(
        app_name="home", migration_id="2026-12-01T13:32:51:415236", auto_agree=True
    )
    assert back.success, back.message
    member = Member(real_name="OLD", tz="UTC")
    await member.save()
    for start, end in (("10:00", "12:00"), ("11:00", "13:00"), ("13:00", "14:00")):
        await fresh.engine.run_ddl(
            "INSERT INTO activity_period (member, start_time, end_time) VALUES "
            f"('{member.id}', '2020-06-20 {start}:00+00:00', '2020-06-20 {end}:00+00:00')"
        )
    before = await _schema_text(fresh)
    with pytest.raises(ValueError) as refused:
        await run_forwards(app_name="home", migration_id="all", fake=False)
    message = str(refused.value)
    assert "periods must not overlap" in message
    assert f"member {member.id} (OLD): period 1" in message
    assert "overlaps period 2" in message and "period 3" not in message
    assert "Nothing was changed" in message
    assert await _schema_text(fresh) == before
    assert len(await fresh.engine.run_ddl("SELECT id FROM activity_period")) == 3
    await fresh.engine.run_ddl("UPDATE activity_period SET start_time = end_time WHERE id = 2")
    await migrate()


async def test_members_order_index_covers_tz_and_goes_back(fresh):
    """The reports read `(id, real_name, tz)` by name from the index alone; backwards restores
    the index it replaced."""
    indexes = await index_definitions(fresh, "member")
    if fresh.kind == "sqlite":
        assert "member_real_name_id_tz" in indexes and "member_real_name_id" not in indexes
        plan = await fresh.engine.run_ddl(
            "EXPLAIN QUERY PLAN SELECT m.id, m.real_name, m.tz FROM member AS m "
            "ORDER BY m.real_name, m.id"
        )
        assert "COVERING INDEX member_real_name_id_tz" in plan[0]["detail"]
    else:
        assert "INCLUDE (tz)" in indexes["member_real_name_c_id_tz"]
        assert "member_real_name_c_id" not in indexes
    result = await run_backwards(
        app_name="home", migration_id="2026-12-01T15:30:00:000000", auto_agree=True
    )
    assert result.success, result.message
    reverted = await index_definitions(fresh, "member")
    old = "member_real_name_id" if fresh.kind == "sqlite" else "member_real_name_c_id"
    assert old in reverted and not any(name.endswith("_tz") for name in reverted)
    await migrate()
    assert await index_definitions(fresh, "member") == indexes


async def test_periods_member_index_covers_the_times_and_goes_back(fresh):
    """Backwards brings back both indexes the migration replaced, forwards again the same
    index as before."""
    indexes = await index_definitions(fresh, "activity_period")
    result = await run_backwards(
        app_name="home", migration_id="2026-12-01T19:00:00:000000", auto_agree=True
    )
    assert result.success, result.message
    reverted = await index_definitions(fresh, "activity_period")
    assert "activity_period_member_times" not in reverted
    assert "(member, start_time)" in reverted["activity_period_member_start"]
    assert "(member)" in reverted["activity_period_member"].replace('"', "")
    await migrate()
    assert await index_definitions(fresh, "activity_period") == indexes


async def test_the_feed_keeps_its_order_and_endpoints_their_place_in_commit_order(fresh, app):
    """On PostgreSQL the migration numbers the kept changes in their old order, carries each
    webhook endpoint's position over, and sends followers holding an old cursor to take a new
    snapshot (410) rather than let them skip changes; on SQLite nothing changes."""
    adapter = app.state.storage.adapter()
    result = await run_backwards(
        app_name="home", migration_id="2026-12-04T21:00:00:000000", auto_agree=True
    )
    assert result.success, result.message
    for name in ("A", "B", "C"):
        await Member.insert(Member(real_name=name, tz="UTC"))
    # The feed as it was: positions (transaction id, id) on PostgreSQL, (0, id) on SQLite.
    position = "txid::text::bigint" if fresh.kind == "postgres" else "0"
    old = [
        (row["a"], row["b"], None, None, None, row["data"])
        for row in await fresh.engine.run_ddl(
            f"SELECT {position} AS a, id AS b, data FROM roster_change ORDER BY a, b"
        )
    ]
    endpoint = WebhookEndpoint(
        url="https://hooks.example.com/roster",
        secret="whsec_x",
        created_at=datetime.now(UTC),
        cursor_txid=old[1][0],  # delivered up to B
        cursor_id=old[1][1],
    )
    await endpoint.save()
    held = encode_cursor((old[2][0], old[2][1]))  # a follower's cursor, after C
    await migrate()
    kept = await adapter.changes_after((0, 0), 10)
    assert [row[5] for row in kept] == [row[5] for row in old]  # the same changes, in order
    [row] = await WebhookEndpoint.select(WebhookEndpoint.cursor_txid, WebhookEndpoint.cursor_id)
    after_endpoint = await adapter.changes_after((row["cursor_txid"], row["cursor_id"]), 10)
    assert [change[5] for change in after_endpoint] == [old[2][5]]  # C is next, as before
    await Member.insert(Member(real_name="D", tz="UTC"))
    newest = (await adapter.changes_after(kept[-1][:2], 10))[0]
    assert "D" in newest[5] and newest[:2] <= (await adapter.current_version()).changes
    if fresh.kind == "sqlite":
        page = await read_changes(adapter, held, 10)  # positions did not change
        assert [change.data["real_name"] for change in page.changes] == ["D"]
    else:
        with pytest.raises(FeedGone):
            await read_changes(adapter, held, 10)
