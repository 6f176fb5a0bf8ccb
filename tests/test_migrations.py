"""Migrations: forwards on an empty database yields the tables the code expects."""

from __future__ import annotations

from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.tables import SessionsBase

from home.admin import AdminActivityPeriod
from home.tables import Member


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
    if db.kind == "sqlite":
        rows = await db.engine.run_ddl("PRAGMA index_list('activity_period')")
        names = {row["name"] for row in rows}
    else:
        rows = await db.engine.run_ddl(
            "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'activity_period'"
        )
        names = {row["name"] for row in rows}
    assert "activity_period_member" in names


async def test_tables_are_usable_after_migrating(db):
    member = Member(real_name="MIGRATED", tz="UTC")
    await member.save()
    assert await Member.select(Member.real_name).first() == {"real_name": "MIGRATED"}
