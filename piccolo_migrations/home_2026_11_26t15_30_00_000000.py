"""Roster data version (bumped by triggers on every write) and indexes for /fetch/'s order.

`roster_version` holds one row: `epoch` (random, fixed when the database is created) and
`version` (a counter that database triggers raise on every INSERT, UPDATE or DELETE of a
member or an activity period, whoever writes: the app, the admin, `populate` or plain SQL).
/fetch/ compares it per request to decide whether its cached body is still current.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T15:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "roster_version counter kept by triggers; keyset indexes for /fetch/"

ROSTER_TABLES = ("member", "activity_period")
EVENTS = ("insert", "update", "delete")

SQLITE_FORWARDS = [
    "CREATE TABLE roster_version ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " epoch TEXT NOT NULL,"
    " version INTEGER NOT NULL)",
    "INSERT INTO roster_version (id, epoch, version) VALUES (1, lower(hex(randomblob(8))), 0)",
    *(
        f"CREATE TRIGGER roster_version_{table}_{event} AFTER {event.upper()} ON {table} "
        "BEGIN UPDATE roster_version SET version = version + 1 WHERE id = 1; END"
        for table in ROSTER_TABLES
        for event in EVENTS
    ),
    "CREATE INDEX member_real_name_id ON member (real_name, id)",
    "CREATE INDEX activity_period_member_start ON activity_period (member, start_time)",
]

SQLITE_BACKWARDS = [
    "DROP INDEX IF EXISTS activity_period_member_start",
    "DROP INDEX IF EXISTS member_real_name_id",
    *(
        f"DROP TRIGGER IF EXISTS roster_version_{table}_{event}"
        for table in ROSTER_TABLES
        for event in EVENTS
    ),
    "DROP TABLE IF EXISTS roster_version",
]

POSTGRES_FORWARDS = [
    "CREATE TABLE roster_version ("
    " id integer PRIMARY KEY CHECK (id = 1),"
    " epoch text NOT NULL,"
    " version bigint NOT NULL)",
    "INSERT INTO roster_version (id, epoch, version)"
    " VALUES (1, substr(md5(random()::text || clock_timestamp()::text), 1, 16), 0)",
    "CREATE FUNCTION roster_version_bump() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN UPDATE roster_version SET version = version + 1 WHERE id = 1; RETURN NULL; END $$",
    *(
        # Statement-level: a bulk insert bumps the counter once, not once per row.
        f"CREATE TRIGGER roster_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION roster_version_bump()"
        for table in ROSTER_TABLES
    ),
    # Byte order ("C") is the API's order on both engines; this index serves it.
    'CREATE INDEX member_real_name_c_id ON member (real_name COLLATE "C", id)',
    "CREATE INDEX activity_period_member_start ON activity_period (member, start_time)",
]

POSTGRES_BACKWARDS = [
    "DROP INDEX IF EXISTS activity_period_member_start",
    "DROP INDEX IF EXISTS member_real_name_c_id",
    *(f"DROP TRIGGER IF EXISTS roster_version_{table} ON {table}" for table in ROSTER_TABLES),
    "DROP FUNCTION IF EXISTS roster_version_bump()",
    "DROP TABLE IF EXISTS roster_version",
]


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no roster_version migration for the {engine.engine_type} engine")
    for statement in statements_by_engine[engine.engine_type]:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="home", description=DESCRIPTION)

    async def add_version_and_indexes():
        await _run({"sqlite": SQLITE_FORWARDS, "postgres": POSTGRES_FORWARDS})

    async def drop_version_and_indexes():
        await _run({"sqlite": SQLITE_BACKWARDS, "postgres": POSTGRES_BACKWARDS})

    manager.add_raw(add_version_and_indexes)
    manager.add_raw_backwards(drop_version_and_indexes)
    return manager
