"""New API keys start from the `read` scope alone, also when made with plain SQL (the previous
migration gave the keys that existed every scope); on SQLite the audit trail records a key's
scopes, members and expiry too (PostgreSQL's records every column but the hash already)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.engine import engine_finder

ID = "2026-12-04T19:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "new API keys read only by default"

ALL_SCOPES = "read,sessions:write,members:write,admin"
_KEY = (
    "'id', {r}.id, 'name', {r}.name, 'prefix', {r}.prefix, 'created_at', {r}.created_at, "
    "'last_used_at', {r}.last_used_at, 'active', {r}.active, 'revoked_at', {r}.revoked_at"
)
_SCOPED_KEY = _KEY + (
    ", 'scopes', {r}.scopes, 'member_ids', {r}.member_ids, 'expires_at', {r}.expires_at"
)
_UPDATED = "name, prefix, key_hash, active, revoked_at"


def _sqlite_key_audit(event: str, row: str, updated: str) -> str:
    subject = "OLD" if event == "delete" else "NEW"
    when = f"UPDATE OF {updated}" if event == "update" else event.upper()
    before = f"json_object({row.format(r='OLD')})" if event != "insert" else "NULL"
    after = f"json_object({row.format(r='NEW')})" if event != "delete" else "NULL"
    return (
        f"CREATE TRIGGER roster_audit_api_key_{event} AFTER {when} ON api_key BEGIN "
        "INSERT INTO audit_entry (occurred_at, actor, table_name, row_id, action, before, after) "
        "VALUES (strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00', "
        "coalesce((SELECT actor FROM audit_actor WHERE id = 1), 'sql'), "
        f"'api_key', {subject}.id, '{event}', {before}, {after}); END"
    )


def _sqlite_audit(row: str, updated: str) -> list[str]:
    events = ("insert", "update", "delete")
    return [
        *(f"DROP TRIGGER IF EXISTS roster_audit_api_key_{event}" for event in events),
        *(_sqlite_key_audit(event, row, updated) for event in events),
    ]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="home", description=DESCRIPTION)

    async def apply():
        # SQLite reads a column added by ALTER TABLE from its current default in rows written
        # before it: write the keys' scopes into them first, or they would turn into `read`.
        await engine_finder().run_ddl("UPDATE api_key SET scopes = scopes")
        if engine_finder().engine_type == "sqlite":
            for statement in _sqlite_audit(
                _SCOPED_KEY, f"{_UPDATED}, scopes, member_ids, expires_at"
            ):
                await engine_finder().run_ddl(statement)

    async def revert():
        if engine_finder().engine_type == "sqlite":
            for statement in _sqlite_audit(_KEY, _UPDATED):
                await engine_finder().run_ddl(statement)

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    # After the raw step (Piccolo runs those first). RosterSQLiteEngine edits the default in
    # SQLite's schema text, as PostgreSQL's ALTER does.
    manager.alter_column(
        table_class_name="ApiKey",
        tablename="api_key",
        column_name="scopes",
        db_column_name="scopes",
        params={"default": "read"},
        old_params={"default": ALL_SCOPES},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )
    return manager
