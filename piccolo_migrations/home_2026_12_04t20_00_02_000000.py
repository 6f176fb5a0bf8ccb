"""The admin's login throttle on PostgreSQL: counts per key (an account at an address, an
account, an address, all logins), replacing the per-address `login_attempt`.

`login_throttle` has one row per key: when it was last counted, its attempts, and until when
it must wait (Unix seconds); `known:` rows remember an account's successful login at an
address. `home/storage/login_attempts.py` reads and writes them. The old counts are dropped:
they were per address only, and a throttle that starts afresh is slower to block, never
faster. SQLite keeps these counts in a file of its own (`LOGIN_RATE_STATE`).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T20:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "admin login throttle per account, address and in all (PostgreSQL)"

POSTGRES_FORWARDS = [
    "CREATE TABLE login_throttle ("
    " key text PRIMARY KEY,"
    " last_attempt double precision NOT NULL,"
    " attempts integer NOT NULL,"
    " blocked_until double precision NOT NULL)",
    "DROP TABLE IF EXISTS login_attempt",
]
POSTGRES_BACKWARDS = [
    "DROP TABLE IF EXISTS login_throttle",
    "CREATE TABLE login_attempt ("
    " client text PRIMARY KEY,"
    " window_start double precision NOT NULL,"
    " attempts integer NOT NULL,"
    " blocked_until double precision NOT NULL)",
]


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no login-throttle migration for the {engine.engine_type} engine")
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
