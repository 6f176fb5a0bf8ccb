"""The change feed: every write to a member or a period, recorded by the database.

`roster_change` gets one row per inserted, updated or deleted member or period, in the writing
transaction (as the audit trail does), whoever writes: the type (`member.created`, ...,
`period.deleted`), the actor (as the audit trail names it) and the row after the change, or
as it was before a deletion, as JSON. Bulk demo data is one `roster.bulk` row instead, written
by `populate` itself.

A follower reads the feed in order of position. On PostgreSQL a position is the writing
transaction's id and the row's id: ids are drawn in one order and committed in another, so a
reader returns only rows of transactions older than the oldest one still running
(`pg_snapshot_xmin`), and a row committed later always has a later position. Each statement
also sends a NOTIFY on `roster_change` (delivered at commit) to wake followers at once. On
SQLite writers take turns, so the row id alone is the position; AUTOINCREMENT keeps ids from
being used twice even when old rows are pruned. `roster_change_pruned` remembers the last
position pruned, so a follower behind it is told to take a new snapshot.

Deleting a member deletes its periods first, in a trigger, so the feed lists them before the
member on both engines (and plain SQL on SQLite, which enforces foreign keys only where a
connection asks, no longer leaves them behind).

Webhook endpoints are audited like API keys (never their secret, nor the relay's bookkeeping).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T17:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "change feed, audited webhook endpoints"

FEED_TABLES = {"member": "member", "activity_period": "period"}
EVENTS = {"insert": "created", "update": "updated", "delete": "deleted"}
# The relay's bookkeeping on an endpoint: not a change anyone made.
ENDPOINT_BOOKKEEPING = (
    "cursor_txid",
    "cursor_id",
    "failures",
    "next_attempt_at",
    "lease_until",
    "leased_by",
    "last_delivery_at",
)
_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
}

POSTGRES_CHANGE = (
    "CREATE FUNCTION roster_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE who text := coalesce(nullif(current_setting('roster.actor', true), ''), 'sql'); "
    "kind text := CASE TG_TABLE_NAME WHEN 'member' THEN 'member' ELSE 'period' END; "
    "BEGIN "
    "IF current_setting('roster.audit_bulk', true) = 'on' THEN RETURN NULL; END IF; "
    "IF TG_OP = 'INSERT' THEN "
    "INSERT INTO roster_change (type, actor, data) "
    "SELECT kind || '.created', who, to_jsonb(n)::text FROM new_rows AS n ORDER BY n.id; "
    "ELSIF TG_OP = 'UPDATE' THEN "
    "INSERT INTO roster_change (type, actor, data) "
    "SELECT kind || '.updated', who, to_jsonb(n)::text FROM new_rows AS n ORDER BY n.id; "
    "ELSE "
    "INSERT INTO roster_change (type, actor, data) "
    "SELECT kind || '.deleted', who, to_jsonb(o)::text FROM old_rows AS o ORDER BY o.id; "
    "END IF; "
    "PERFORM pg_notify('roster_change', ''); "
    "RETURN NULL; END $$"
)
# A member's periods are deleted before the member itself, so that the feed lists them first
# (a follower whose copy has a foreign key can apply the changes in order). PostgreSQL's
# cascade would delete them too, but its changes would come after the member's.
POSTGRES_PERIODS_FIRST = (
    "CREATE FUNCTION roster_delete_periods_first() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF EXISTS (SELECT 1 FROM activity_period WHERE member = OLD.id) THEN "
    "DELETE FROM activity_period WHERE member = OLD.id; "
    "END IF; RETURN OLD; END $$"
)
_BOOKKEEPING = " - ".join(f"'{name}'" for name in ENDPOINT_BOOKKEEPING)
POSTGRES_ENDPOINT_AUDIT = (
    "CREATE FUNCTION roster_audit_endpoint() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE who text := coalesce(nullif(current_setting('roster.actor', true), ''), 'sql'); "
    "BEGIN "
    "IF TG_OP = 'INSERT' THEN "
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "SELECT now(), who, TG_TABLE_NAME, n.id::text, 'insert', NULL, "
    f"(to_jsonb(n) - 'secret' - {_BOOKKEEPING})::text FROM new_rows AS n; "
    "ELSIF TG_OP = 'UPDATE' THEN "
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "SELECT now(), who, TG_TABLE_NAME, n.id::text, 'update', "
    f"(to_jsonb(o) - 'secret' - {_BOOKKEEPING})::text, "
    f"(to_jsonb(n) - 'secret' - {_BOOKKEEPING})::text "
    "FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id "
    # A new secret is recorded (as an update whose values show no secret); bookkeeping is not.
    f"WHERE to_jsonb(n) - {_BOOKKEEPING} IS DISTINCT FROM to_jsonb(o) - {_BOOKKEEPING}; "
    "ELSE "
    "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
    "SELECT now(), who, TG_TABLE_NAME, o.id::text, 'delete', "
    f"(to_jsonb(o) - 'secret' - {_BOOKKEEPING})::text, NULL FROM old_rows AS o; "
    "END IF; RETURN NULL; END $$"
)

POSTGRES_FORWARDS = [
    "CREATE TABLE roster_change ("
    " id bigserial PRIMARY KEY,"
    " txid xid8 NOT NULL DEFAULT pg_current_xact_id(),"
    " occurred_at timestamptz NOT NULL DEFAULT now(),"
    " type varchar(32) NOT NULL,"
    " actor varchar(200) NOT NULL,"
    " data text NOT NULL)",
    "CREATE INDEX roster_change_position ON roster_change (txid, id)",
    "CREATE INDEX roster_change_occurred ON roster_change (occurred_at)",
    "CREATE TABLE roster_change_pruned ("
    " id integer PRIMARY KEY CHECK (id = 1), txid bigint NOT NULL, change_id bigint NOT NULL)",
    "INSERT INTO roster_change_pruned (id, txid, change_id) VALUES (1, 0, 0)",
    POSTGRES_CHANGE,
    *(
        f"CREATE TRIGGER roster_change_{table}_{event} AFTER {event.upper()} ON {table} "
        f"{_REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION roster_change()"
        for table in FEED_TABLES
        for event in EVENTS
    ),
    POSTGRES_PERIODS_FIRST,
    "CREATE TRIGGER roster_delete_periods_first BEFORE DELETE ON member "
    "FOR EACH ROW EXECUTE FUNCTION roster_delete_periods_first()",
    POSTGRES_ENDPOINT_AUDIT,
    *(
        f"CREATE TRIGGER roster_audit_webhook_endpoint_{event} AFTER {event.upper()} "
        f"ON webhook_endpoint {_REFERENCING[event]} FOR EACH STATEMENT "
        "EXECUTE FUNCTION roster_audit_endpoint()"
        for event in EVENTS
    ),
]
POSTGRES_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS roster_audit_webhook_endpoint_{e} ON webhook_endpoint" for e in EVENTS),
    "DROP FUNCTION IF EXISTS roster_audit_endpoint()",
    "DROP TRIGGER IF EXISTS roster_delete_periods_first ON member",
    "DROP FUNCTION IF EXISTS roster_delete_periods_first()",
    *(f"DROP TRIGGER IF EXISTS roster_change_{t}_{e} ON {t}" for t in FEED_TABLES for e in EVENTS),
    "DROP FUNCTION IF EXISTS roster_change()",
    "DROP TABLE IF EXISTS roster_change_pruned",
    "DROP TABLE IF EXISTS roster_change",
]

# A row as the feed records it (SQLite json_object() arguments).
SQLITE_ROWS = {
    "member": "'id', {r}.id, 'real_name', {r}.real_name, 'tz', {r}.tz",
    "activity_period": (
        "'id', {r}.id, 'member', {r}.member, 'start_time', {r}.start_time, "
        "'end_time', {r}.end_time"
    ),
}
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00'"
SQLITE_ACTOR = "coalesce((SELECT actor FROM audit_actor WHERE id = 1), 'sql')"


def _sqlite_change_trigger(table: str, event: str) -> str:
    row = "OLD" if event == "delete" else "NEW"
    kind = f"{FEED_TABLES[table]}.{EVENTS[event]}"
    return (
        f"CREATE TRIGGER roster_change_{table}_{event} AFTER {event.upper()} ON {table} BEGIN "
        "INSERT INTO roster_change (occurred_at, type, actor, data) VALUES "
        f"({SQLITE_NOW}, '{kind}', {SQLITE_ACTOR}, "
        f"json_object({SQLITE_ROWS[table].format(r=row)})); END"
    )


_ENDPOINT_ROW = (
    "'id', {r}.id, 'url', {r}.url, 'types', {r}.types, 'enabled', {r}.enabled, "
    "'disabled_reason', {r}.disabled_reason, 'created_at', {r}.created_at"
)


def _sqlite_endpoint_audit(event: str) -> str:
    row = "OLD" if event == "delete" else "NEW"
    when = (
        "UPDATE OF url, types, secret, enabled, disabled_reason"
        if event == "update"
        else event.upper()
    )
    before = f"json_object({_ENDPOINT_ROW.format(r='OLD')})" if event != "insert" else "NULL"
    after = f"json_object({_ENDPOINT_ROW.format(r='NEW')})" if event != "delete" else "NULL"
    return (
        f"CREATE TRIGGER roster_audit_webhook_endpoint_{event} AFTER {when} ON webhook_endpoint "
        "BEGIN INSERT INTO audit_entry "
        "(occurred_at, actor, table_name, row_id, action, before, after) VALUES "
        f"({SQLITE_NOW}, {SQLITE_ACTOR}, 'webhook_endpoint', {row}.id, '{event}', "
        f"{before}, {after}); END"
    )


SQLITE_FORWARDS = [
    "CREATE TABLE roster_change ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " occurred_at TEXT NOT NULL,"
    " type TEXT NOT NULL,"
    " actor TEXT NOT NULL,"
    " data TEXT NOT NULL)",
    "CREATE INDEX roster_change_occurred ON roster_change (occurred_at)",
    "CREATE TABLE roster_change_pruned ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), txid INTEGER NOT NULL, change_id INTEGER NOT NULL)",
    "INSERT INTO roster_change_pruned (id, txid, change_id) VALUES (1, 0, 0)",
    *(_sqlite_change_trigger(table, event) for table in FEED_TABLES for event in EVENTS),
    # As on PostgreSQL, and on any connection: SQLite enforces foreign keys only where a
    # connection asks for it, so plain SQL would otherwise leave the periods behind.
    "CREATE TRIGGER roster_delete_periods_first BEFORE DELETE ON member BEGIN "
    "DELETE FROM activity_period WHERE member = OLD.id; END",
    *(_sqlite_endpoint_audit(event) for event in EVENTS),
]
SQLITE_BACKWARDS = [
    *(f"DROP TRIGGER IF EXISTS roster_audit_webhook_endpoint_{e}" for e in EVENTS),
    "DROP TRIGGER IF EXISTS roster_delete_periods_first",
    *(f"DROP TRIGGER IF EXISTS roster_change_{t}_{e}" for t in FEED_TABLES for e in EVENTS),
    "DROP TABLE IF EXISTS roster_change_pruned",
    "DROP TABLE IF EXISTS roster_change",
]


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no change feed migration for the {engine.engine_type} engine")
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
