"""A computed, read-only `duration` column on activity_period, for the admin's period list.

The database works it out from start_time and end_time, so it can never disagree with them and
no writer has to fill it in. Piccolo has no generated columns, so this migration is raw SQL:
PostgreSQL stores an `interval`; SQLite computes seconds on read (declared type SECONDS, which
Piccolo's SQLite engine converts to a timedelta).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T15:08:31:000000"
VERSION = "1.38.0"
DESCRIPTION = "computed activity_period.duration"

POSTGRES_ADD = (
    "ALTER TABLE activity_period ADD COLUMN duration interval "
    "GENERATED ALWAYS AS (end_time - start_time) STORED"
)
SQLITE_ADD = (
    "ALTER TABLE activity_period ADD COLUMN duration SECONDS "
    "GENERATED ALWAYS AS "
    "(round((julianday(end_time) - julianday(start_time)) * 86400.0, 3)) VIRTUAL"
)
DROP = "ALTER TABLE activity_period DROP COLUMN duration"


def _engine():
    return engine_finder()


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="home", description=DESCRIPTION)

    async def add_duration():
        db = _engine()
        await db.run_ddl(POSTGRES_ADD if db.engine_type == "postgres" else SQLITE_ADD)

    async def drop_duration():
        await _engine().run_ddl(DROP)

    manager.add_raw(add_duration)
    manager.add_raw_backwards(drop_duration)
    return manager
