"""The admin's login attempts in the database on PostgreSQL, shared by every host using it.

`login_attempt` has one row per client address: when its window started and until when it
is blocked (Unix seconds), and its attempts in the window. `home/storage/login_attempts.py`
counts with one upsert per attempt and forgets rows whose window and block are over. SQLite
keeps these counts in a file of its own (`LOGIN_RATE_STATE`), so nothing changes there.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "admin login attempts shared by every host (PostgreSQL)"

POSTGRES_FORWARDS = [
    "CREATE TABLE login_attempt ("
    " client text PRIMARY KEY,"
    " window_start double precision NOT NULL,"
    " attempts integer NOT NULL,"
    " blocked_until double precision NOT NULL)",
]
POSTGRES_BACKWARDS = ["DROP TABLE IF EXISTS login_attempt"]


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no login-attempts migration for the {engine.engine_type} engine")
    for statement in statements_by_engine[engine.engine_type]:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="home", description=DESCRIPTION)

    async def apply():
        await _run({"sqlite": [], "postgres": POSTGRES_FORWARDS})

    async def revert():
        await _run({"sqlite": [], "postgres": POSTGRES_BACKWARDS})

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    return manager
