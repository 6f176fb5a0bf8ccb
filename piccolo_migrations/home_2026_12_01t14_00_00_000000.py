"""Rules the database enforces for sessions, the API's shared state, and the audit trail.

Periods (`activity_period`): a member's periods never overlap (one may start exactly when the
previous ends; a period of zero length overlaps nothing), and a member has at most one running
session (`end_time` NULL), which counts as running forever, so it cannot start before the end
of a finished period, nor can a finished period be added after its start.
- PostgreSQL: an exclusion constraint over `tstzrange(start_time, end_time, '[)')` (btree_gist
  for the member's equality) and a partial unique index.
- SQLite: BEFORE INSERT/UPDATE triggers doing the same test (instants compared with julianday,
  to the millisecond) and the same partial unique index.

API state: `api_key_usage` counts each key's requests per minute (the rate limit, shared by
every worker on the database); `idempotency_key` keeps the first answer to each
Idempotency-Key for 48 hours.

Audit (`audit_entry`): triggers record every insert, update and delete of a member, a period or
an API key in the writing transaction: when, who, which row, and the values before and after
as JSON (never an API key's hash; a key's last use alone is not recorded). "Who" is what the application set for the transaction
(PostgreSQL: the setting `roster.actor`; SQLite: the one row of `audit_actor`, set and cleared
inside the transaction); a write from outside the application is recorded as `sql`. Bulk
demo data (`roster.audit_bulk` on PostgreSQL; suspended triggers on SQLite) writes one summary
entry instead.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "period rules, API key usage, idempotency keys, audit triggers"

AUDITED = {
    # table: SQLite json_object() arguments for one row (PostgreSQL uses to_jsonb)
    "member": "'id', {r}.id, 'real_name', {r}.real_name, 'tz', {r}.tz",
    "activity_period": (
        "'id', {r}.id, 'member', {r}.member, 'start_time', {r}.start_time, "
        "'end_time', {r}.end_time"
    ),
    "api_key": (
        "'id', {r}.id, 'name', {r}.name, 'prefix', {r}.prefix, 'created_at', {r}.created_at, "
        "'last_used_at', {r}.last_used_at, 'active', {r}.active, 'revoked_at', {r}.revoked_at"
    ),
}
EVENTS = ("insert", "update", "delete")

SHARED_STATE = [
    "CREATE TABLE api_key_usage ("
    " key_id integer NOT NULL REFERENCES api_key (id) ON DELETE CASCADE,"
    " window_start bigint NOT NULL,"
    " requests integer NOT NULL,"
    " PRIMARY KEY (key_id, window_start))",
    "CREATE TABLE idempotency_key ("
    " owner integer NOT NULL,"
    " key varchar(255) NOT NULL,"
    " fingerprint varchar(64) NOT NULL,"
    " status integer,"
    " body text,"
    " created_at bigint NOT NULL,"
    " PRIMARY KEY (owner, key))",
    "CREATE INDEX idempotency_key_created ON idempotency_key (created_at)",
    "CREATE INDEX audit_entry_row ON audit_entry (table_name, row_id)",
    "CREATE INDEX audit_entry_occurred ON audit_entry (occurred_at)",
]
SHARED_STATE_BACKWARDS = [
    "DROP INDEX IF EXISTS audit_entry_occurred",
    "DROP INDEX IF EXISTS audit_entry_row",
    "DROP TABLE IF EXISTS idempotency_key",
    "DROP TABLE IF EXISTS api_key_usage",
]

POSTGRES_AUDIT = (
    "CREATE FUNCTION roster_audit() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE who text := coalesce(nullif(current_setting('roster.actor', true), ''), 'sql'); "
    "BEGIN "
    "IF current_setting('roster.audit_bulk', true) = 'on' THEN RETURN NULL; END IF; "
    "IF TG_OP = 'INSERT' THEN "
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "SELECT now(), who, TG_TABLE_NAME, n.id::text, 'insert', NULL, "
    "(to_jsonb(n) - 'key_hash')::text FROM new_rows AS n; "
    "ELSIF TG_OP = 'UPDATE' THEN "
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "SELECT now(), who, TG_TABLE_NAME, n.id::text, 'update', (to_jsonb(o) - 'key_hash')::text, "
    "(to_jsonb(n) - 'key_hash')::text FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id "
    # A key's last use is bookkeeping, not a change anyone made.
    "WHERE to_jsonb(n) - 'last_used_at' IS DISTINCT FROM to_jsonb(o) - 'last_used_at'; "
    "ELSE "
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "SELECT now(), who, TG_TABLE_NAME, o.id::text, 'delete', (to_jsonb(o) - 'key_hash')::text, "
    "NULL FROM old_rows AS o; "
    "END IF; RETURN NULL; END $$"
)
_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}

POSTGRES_FORWARDS = [
    # Trusted since PostgreSQL 13: a database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    "ALTER TABLE activity_period ADD CONSTRAINT activity_period_no_overlap "
    "EXCLUDE USING gist (member WITH =, tstzrange(start_time, end_time, '[)') WITH &&)",
    "CREATE UNIQUE INDEX activity_period_one_running ON activity_period (member) "
    "WHERE end_time IS NULL",
    *SHARED_STATE,
    POSTGRES_AUDIT,
    *(
        # Statement-level with transition tables: one call per statement, however many rows.
        f"CREATE TRIGGER roster_audit_{table}_{event} AFTER {event.upper()} ON {table} "
        f"{_REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION roster_audit()"
        for table in AUDITED
        for event in EVENTS
    ),
]
POSTGRES_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS roster_audit_{t}_{e} ON {t}" for t in AUDITED for e in EVENTS),
    "DROP FUNCTION IF EXISTS roster_audit()",
    *SHARED_STATE_BACKWARDS,
    "DROP INDEX IF EXISTS activity_period_one_running",
    "ALTER TABLE activity_period DROP CONSTRAINT IF EXISTS activity_period_no_overlap",
]

# A period [start, end) with a NULL end runs forever; one of zero length is empty.
_START = "julianday({r}.start_time)"
_END = "coalesce(julianday({r}.end_time), 1e9)"


def _sqlite_overlap_trigger(event: str) -> str:
    other = "o.id <> NEW.id AND " if event == "update" else ""
    when = "UPDATE OF member, start_time, end_time" if event == "update" else "INSERT"
    new_start, new_end = _START.format(r="NEW"), _END.format(r="NEW")
    old_start, old_end = _START.format(r="o"), _END.format(r="o")
    return (
        f"CREATE TRIGGER activity_period_no_overlap_{event} BEFORE {when} ON activity_period "
        f"WHEN {new_start} < {new_end} BEGIN "
        "SELECT RAISE(ABORT, 'activity_period_no_overlap') FROM activity_period AS o "
        f"WHERE o.member = NEW.member AND {other}{old_start} < {old_end} "
        f"AND {old_start} < {new_end} AND {new_start} < {old_end} LIMIT 1; END"
    )


# A key's last use is bookkeeping, not a change anyone made.
_AUDITED_UPDATES = {"api_key": "UPDATE OF name, prefix, key_hash, active, revoked_at"}


def _sqlite_audit_trigger(table: str, event: str) -> str:
    row = "OLD" if event == "delete" else "NEW"
    when = _AUDITED_UPDATES.get(table, "UPDATE") if event == "update" else event.upper()
    before = f"json_object({AUDITED[table].format(r='OLD')})" if event != "insert" else "NULL"
    after = f"json_object({AUDITED[table].format(r='NEW')})" if event != "delete" else "NULL"
    return (
        f"CREATE TRIGGER roster_audit_{table}_{event} AFTER {when} ON {table} BEGIN "
        "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
        "VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00', "
        "coalesce((SELECT actor FROM audit_actor WHERE id = 1), 'sql'), "
        f"'{table}', {row}.id, '{event}', {before}, {after}); END"
    )


SQLITE_FORWARDS = [
    *(_sqlite_overlap_trigger(event) for event in ("insert", "update")),
    "CREATE UNIQUE INDEX activity_period_one_running ON activity_period (member) "
    "WHERE end_time IS NULL",
    *SHARED_STATE,
    # Who writes in the current transaction: set and cleared by the application inside it
    # (SQLite has one writer at a time), so a committed state always reads NULL.
    "CREATE TABLE audit_actor (id INTEGER PRIMARY KEY CHECK (id = 1), actor TEXT)",
    "INSERT INTO audit_actor (id, actor) VALUES (1, NULL)",
    *(_sqlite_audit_trigger(table, event) for table in AUDITED for event in EVENTS),
]
SQLITE_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS roster_audit_{t}_{e}" for t in AUDITED for e in EVENTS),
    "DROP TABLE IF EXISTS audit_actor",
    *SHARED_STATE_BACKWARDS,
    "DROP INDEX IF EXISTS activity_period_one_running",
    "DROP TRIGGER IF EXISTS activity_period_no_overlap_update",
    "DROP TRIGGER IF EXISTS activity_period_no_overlap_insert",
]


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no sessions migration for the {engine.engine_type} engine")
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
