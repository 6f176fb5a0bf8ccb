"""Closed periods stay closed, whoever writes: triggers refuse to create, change or delete a
period that starts before `closing.until` (a member with one cannot be deleted either: its
periods are deleted first). Refusals name `activity_period_closed`. Changes to the closing are
audited.

PostgreSQL checks once per statement, over the rows it wrote (transition tables); SQLite
checks each row, comparing instants with julianday as the overlap rule does.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T20:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "closed periods are enforced by the database"

EVENTS = ("insert", "update", "delete")
_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}
ROW = "INSERT INTO closing (id, until) VALUES (1, NULL)"

POSTGRES_CHECK = (
    "CREATE FUNCTION activity_period_closed() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE closed timestamptz := (SELECT until FROM closing WHERE id = 1); "
    "first timestamptz; "
    "BEGIN "
    "IF closed IS NULL THEN RETURN NULL; END IF; "
    "IF TG_OP <> 'DELETE' THEN "
    "SELECT min(start_time) INTO first FROM new_rows WHERE start_time < closed; END IF; "
    "IF first IS NULL AND TG_OP <> 'INSERT' THEN "
    "SELECT min(start_time) INTO first FROM old_rows WHERE start_time < closed; END IF; "
    "IF first IS NOT NULL THEN "
    "RAISE EXCEPTION 'activity_period_closed: periods starting before % are closed; one starts "
    "at %', closed, first USING ERRCODE = 'integrity_constraint_violation', "
    "CONSTRAINT = 'activity_period_closed'; "
    "END IF; RETURN NULL; END $$"
)
POSTGRES_FORWARDS = [
    ROW,
    POSTGRES_CHECK,
    *(
        f"CREATE TRIGGER activity_period_closed_{event} AFTER {event.upper()} ON activity_period "
        f"{_REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION activity_period_closed()"
        for event in EVENTS
    ),
    *(
        f"CREATE TRIGGER roster_audit_closing_{event} AFTER {event.upper()} ON closing "
        f"{_REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION roster_audit()"
        for event in EVENTS
    ),
]
POSTGRES_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS roster_audit_closing_{e} ON closing" for e in EVENTS),
    *(f"DROP TRIGGER IF EXISTS activity_period_closed_{e} ON activity_period" for e in EVENTS),
    "DROP FUNCTION IF EXISTS activity_period_closed()",
    "DELETE FROM closing",
]

_CLOSED = "(SELECT julianday(until) FROM closing WHERE id = 1)"
_REFUSE = "SELECT RAISE(ABORT, 'activity_period_closed')"


def _sqlite_check(event: str) -> str:
    rows = {"insert": ("NEW",), "update": ("NEW", "OLD"), "delete": ("OLD",)}[event]
    when = " OR ".join(f"julianday({row}.start_time) < {_CLOSED}" for row in rows)
    return (
        f"CREATE TRIGGER activity_period_closed_{event} BEFORE {event.upper()} ON activity_period "
        f"WHEN {when} BEGIN {_REFUSE}; END"
    )


_CLOSING_ROW = (
    "'id', {r}.id, 'until', {r}.until, 'changed_at', {r}.changed_at, "
    "'changed_by', {r}.changed_by"
)


def _sqlite_audit(event: str) -> str:
    subject = "OLD" if event == "delete" else "NEW"
    before = f"json_object({_CLOSING_ROW.format(r='OLD')})" if event != "insert" else "NULL"
    after = f"json_object({_CLOSING_ROW.format(r='NEW')})" if event != "delete" else "NULL"
    return (
        f"CREATE TRIGGER roster_audit_closing_{event} AFTER {event.upper()} ON closing BEGIN "
        "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
        "VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00', "
        "coalesce((SELECT actor FROM audit_actor WHERE id = 1), 'sql'), "
        f"'closing', {subject}.id, '{event}', {before}, {after}); END"
    )


SQLITE_FORWARDS = [
    ROW,
    *(_sqlite_check(event) for event in EVENTS),
    *(_sqlite_audit(event) for event in EVENTS),
]
SQLITE_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS roster_audit_closing_{e}" for e in EVENTS),
    *(f"DROP TRIGGER IF EXISTS activity_period_closed_{e}" for e in EVENTS),
    "DELETE FROM closing",
]


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no closed-periods migration for the {engine.engine_type} engine")
    for statement in statements_by_engine[engine.engine_type]:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="home", description=DESCRIPTION)

    async def apply():
        await _run({"sqlite": SQLITE_FORWARDS, "postgres": POSTGRES_FORWARDS})

    async def revert():
        await _run({"sqlite": SQLITE_BACKWARDS, "postgres": POSTGRES_BACKWARDS})

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    return manager
