"""The periods' member index covers their times.

/fetch/ reads each member's finished periods as `(start_time, end_time)` in start order. With
both times in the `(member, start_time)` index that read is index-only instead of one table
lookup per period: the 100,000-member roster's 300,000 periods in about 0.5 s instead of 0.7 s
on SQLite. The foreign key's own one-column index is dropped: this index starts with `member`,
so it serves every lookup by member (the cascade included), and `populate` has one index less
to rebuild.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey
from piccolo.engine import engine_finder

ID = "2026-12-01T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "periods' member index covers their times"

FORWARDS = {
    "sqlite": [
        "CREATE INDEX activity_period_member_times ON activity_period "
        "(member, start_time, end_time)",
        "DROP INDEX IF EXISTS activity_period_member_start",
    ],
    "postgres": [
        "CREATE INDEX activity_period_member_times ON activity_period "
        "(member, start_time) INCLUDE (end_time, id)",
        "DROP INDEX IF EXISTS activity_period_member_start",
    ],
}
BACKWARDS = {
    engine: [
        "CREATE INDEX activity_period_member_start ON activity_period (member, start_time)",
        "DROP INDEX IF EXISTS activity_period_member_times",
    ]
    for engine in ("sqlite", "postgres")
}


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no period index migration for the {engine.engine_type} engine")
    for statement in statements_by_engine[engine.engine_type]:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="home", description=DESCRIPTION)

    async def apply():
        await _run(FORWARDS)

    async def revert():
        await _run(BACKWARDS)

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    # The foreign key's own index (`activity_period_member`) goes; Piccolo drops it, and
    # creates it again backwards.
    manager.alter_column(
        table_class_name="ActivityPeriod",
        tablename="activity_period",
        column_name="member",
        db_column_name="member",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )
    return manager
