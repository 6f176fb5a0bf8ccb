"""The data version raised at commit on PostgreSQL; SQLite ids and period CHECK fit raw SQL.

PostgreSQL: the statement triggers of `member` and `activity_period` used to UPDATE the
`roster_version` row at once, so the row stayed locked until the writing transaction ended:
every other writer queued behind it, and two transactions that went on to touch each other's
rows deadlocked. Now the triggers only note, once per transaction, that the roster changed
(a transaction-local setting and one row in `roster_version_pending`), and a deferred
constraint trigger on that row raises the counter as the transaction commits. The counter row
is locked for the moment of the commit alone, and the new version becomes visible exactly
with the data. A rolled-back transaction or savepoint takes its note with it. (A writer at
REPEATABLE READ or SERIALIZABLE whose snapshot is older than another writer's commit gets a
serialization failure at its commit, to be retried, where it used to wait for that writer.)

SQLite (one writer at a time, so its per-row triggers stay):
- `member.id` defaulted to the text 'None' (Piccolo's rendering), so a raw INSERT without an
  id stored 'None'. It now defaults to a random version-4 UUID, written like str(uuid4());
  a member stored with the id 'None' is given one.
- CHECK `ends_after_start` compared the stored texts, which orders Piccolo's UTC form
  (`YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`) but not times written with other offsets. It now
  compares instants (julianday, exact to the millisecond, the precision of SQLite's date
  functions), and two times in Piccolo's form within one millisecond as text, so those stay
  exact to the microsecond. Two other texts less than a millisecond apart are accepted in
  either order.
"""

import uuid

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "roster_version raised at commit (PostgreSQL); SQLite id default and period CHECK"

ROSTER_TABLES = ("member", "activity_period")
PENDING_SETTING = "roster.version_pending"

POSTGRES_FORWARDS = [
    *(f"DROP TRIGGER roster_version_{table} ON {table}" for table in ROSTER_TABLES),
    "DROP FUNCTION roster_version_bump()",
    # One row per writing transaction, inserted and deleted within it: never seen committed.
    "CREATE TABLE roster_version_pending (xact xid8 PRIMARY KEY)",
    "CREATE FUNCTION roster_version_note_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    f"IF current_setting('{PENDING_SETTING}', true) IS DISTINCT FROM 'on' THEN "
    "INSERT INTO roster_version_pending (xact) VALUES (pg_current_xact_id()) "
    "ON CONFLICT DO NOTHING; "
    f"PERFORM set_config('{PENDING_SETTING}', 'on', true); "
    "END IF; RETURN NULL; END $$",
    "CREATE FUNCTION roster_version_bump_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "DELETE FROM roster_version_pending WHERE xact = NEW.xact; "
    "UPDATE roster_version SET version = version + 1 WHERE id = 1; "
    f"PERFORM set_config('{PENDING_SETTING}', 'off', true); "
    "RETURN NULL; END $$",
    *(
        # Statement-level: a bulk insert notes the change once, not once per row.
        f"CREATE TRIGGER roster_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION roster_version_note_change()"
        for table in ROSTER_TABLES
    ),
    "CREATE CONSTRAINT TRIGGER roster_version_bump_at_commit "
    "AFTER INSERT ON roster_version_pending DEFERRABLE INITIALLY DEFERRED "
    "FOR EACH ROW EXECUTE FUNCTION roster_version_bump_at_commit()",
]

POSTGRES_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS roster_version_{table} ON {table}" for table in ROSTER_TABLES),
    "DROP TABLE IF EXISTS roster_version_pending",
    "DROP FUNCTION IF EXISTS roster_version_bump_at_commit()",
    "DROP FUNCTION IF EXISTS roster_version_note_change()",
    "CREATE FUNCTION roster_version_bump() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN UPDATE roster_version SET version = version + 1 WHERE id = 1; RETURN NULL; END $$",
    *(
        f"CREATE TRIGGER roster_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION roster_version_bump()"
        for table in ROSTER_TABLES
    ),
]

# 8-4-4-4-12 lowercase hex; version nibble 4, variant nibble one of 8, 9, a, b (122 random bits).
SQLITE_UUID4 = (
    "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (random() & 3), 1) || "
    "substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))"
)

_UTC_SECONDS = "????-??-?? ??:??:??"


def _piccolo_utc_text(column: str) -> str:
    """True when `column` holds Piccolo's UTC text, whose text order is time order."""
    # '.000000' is left out: it equals the same second written without a fraction.
    return (
        f"({column} GLOB '{_UTC_SECONDS}+00:00' OR "
        f"({column} GLOB '{_UTC_SECONDS}.??????+00:00' AND substr({column}, 21, 6) <> '000000'))"
    )


OLD_PERIOD_CHECK = "end_time >= start_time"
# julianday() counts whole milliseconds, rounded the same way for every offset: when the two
# differ they order the instants exactly. Within one millisecond, two texts in Piccolo's form
# are compared as text (exact); others pass. Text SQLite cannot read as a time keeps the old
# text comparison.
PERIOD_CHECK = (
    "CASE WHEN julianday(end_time) > julianday(start_time) THEN 1 "
    "WHEN julianday(end_time) < julianday(start_time) THEN 0 "
    "WHEN julianday(end_time) = julianday(start_time) THEN end_time >= start_time OR NOT ("
    f"{_piccolo_utc_text('start_time')} AND {_piccolo_utc_text('end_time')}) "
    f"ELSE {OLD_PERIOD_CHECK} END"
)

SQLITE_FORWARDS = [
    f"ALTER TABLE member ALTER COLUMN id SET DEFAULT {SQLITE_UUID4}",
    "ALTER TABLE activity_period DROP CONSTRAINT ends_after_start",
    f"ALTER TABLE activity_period ADD CONSTRAINT ends_after_start CHECK ({PERIOD_CHECK})",
]

SQLITE_BACKWARDS = [
    "ALTER TABLE activity_period DROP CONSTRAINT ends_after_start",
    f"ALTER TABLE activity_period ADD CONSTRAINT ends_after_start CHECK ({OLD_PERIOD_CHECK})",
    # What Piccolo 1.38 rendered for the UUID4() default.
    "ALTER TABLE member ALTER COLUMN id SET DEFAULT None",
]


async def _give_none_id_a_uuid(engine) -> None:
    """A member stored with the id 'None' (by a raw INSERT) gets a random UUID; so do its periods."""
    if not await engine.run_ddl("SELECT 1 FROM member WHERE id = 'None'"):
        return
    new_id = str(uuid.uuid4())
    # With foreign keys on, ON UPDATE CASCADE moves the periods; without, the second UPDATE does.
    await engine.run_ddl(f"UPDATE member SET id = '{new_id}' WHERE id = 'None'")
    await engine.run_ddl(f"UPDATE activity_period SET member = '{new_id}' WHERE member = 'None'")


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no roster_version migration for the {engine.engine_type} engine")
    for statement in statements_by_engine[engine.engine_type]:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="home", description=DESCRIPTION)

    async def apply():
        if engine_finder().engine_type == "sqlite":
            await _give_none_id_a_uuid(engine_finder())
        await _run({"sqlite": SQLITE_FORWARDS, "postgres": POSTGRES_FORWARDS})

    async def revert():
        await _run({"sqlite": SQLITE_BACKWARDS, "postgres": POSTGRES_BACKWARDS})

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    return manager
