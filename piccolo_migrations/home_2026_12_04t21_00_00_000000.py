"""The change feed in commit order on PostgreSQL.

A position was the writing transaction's id and the row's id, and a reader held back at the
oldest transaction still running. Transaction ids are handed out at a transaction's first
write, not at its commit: a transaction that began writing earlier but committed later came
first in the feed, so a follower could see a period changed by the later commit before the
earlier commit's change of it, or a period before the member it belongs to.

Now the commit stamps the order itself. `roster_version_bump_at_commit` (a deferred trigger,
run as the transaction commits) already bumps `roster_version.version` under its row lock,
so writers take their numbers in the order they commit; it now also writes that number into
the transaction's `roster_change.seq`. A position is (`seq`, id): a change is visible exactly
when its number is, nothing is held back, and a later commit always has a later position.

Existing changes keep their order, numbered from above every transaction id so far; the
version jumps there too. Cursors that followers hold from before are behind the new pruned
mark, so they get 410 and take a new snapshot once, instead of skipping changes. Webhook
endpoints' positions, and the changes queued to be sent again, are carried over. SQLite, whose writers take turns, is unchanged.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-04T21:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "the change feed in commit order (PostgreSQL)"

PENDING_SETTING = "roster.version_pending"

POSTGRES_CONVERT = (
    "DO $$ DECLARE base bigint := pg_current_xact_id()::text::bigint; "
    "kept bigint; BEGIN "
    "LOCK TABLE roster_change, webhook_endpoint, webhook_redelivery, roster_change_pruned, "
    "roster_version "
    "IN EXCLUSIVE MODE; "
    "WITH ranked AS (SELECT txid, row_number() OVER (ORDER BY txid) AS r "
    "FROM (SELECT DISTINCT txid FROM roster_change) AS t) "
    "UPDATE roster_change AS c SET seq = base + ranked.r FROM ranked WHERE c.txid = ranked.txid; "
    "SELECT count(DISTINCT txid) INTO kept FROM roster_change; "
    # An endpoint behind the old pruned mark stays behind the new one (0, 0); any other moves
    # to the last kept change at or before its position, or to the new mark when none is.
    "UPDATE webhook_endpoint AS e SET (cursor_txid, cursor_id) = ("
    "SELECT CASE WHEN (e.cursor_txid, e.cursor_id) < (p.txid, p.change_id) THEN 0 "
    "ELSE coalesce(last.seq, base) END, "
    "CASE WHEN (e.cursor_txid, e.cursor_id) < (p.txid, p.change_id) THEN 0 "
    "ELSE coalesce(last.id, 0) END "
    "FROM roster_change_pruned AS p LEFT JOIN LATERAL (SELECT c.seq, c.id FROM roster_change AS c "
    "WHERE (c.txid, c.id) <= (e.cursor_txid::text::xid8, e.cursor_id) "
    "ORDER BY c.txid DESC, c.id DESC LIMIT 1) AS last ON true WHERE p.id = 1); "
    # Redeliveries asked for name their change by its position: its id finds its new one.
    "UPDATE webhook_redelivery AS r SET change_txid = c.seq FROM roster_change AS c "
    "WHERE c.id = r.change_id; "
    "UPDATE roster_change_pruned SET txid = base, change_id = 0 WHERE id = 1; "
    "UPDATE roster_version SET version = greatest(version, base + kept) WHERE id = 1; "
    "END $$"
)
POSTGRES_BUMP = (
    "CREATE OR REPLACE FUNCTION roster_version_bump_at_commit() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ DECLARE stamped bigint; BEGIN "
    "DELETE FROM roster_version_pending WHERE xact = NEW.xact; "
    "UPDATE roster_version SET version = version + 1 WHERE id = 1 RETURNING version INTO stamped; "
    "UPDATE roster_change SET seq = stamped WHERE txid = NEW.xact AND seq IS NULL; "
    f"PERFORM set_config('{PENDING_SETTING}', 'off', true); "
    "RETURN NULL; END $$"
)
POSTGRES_FORWARDS = [
    "ALTER TABLE roster_change ADD COLUMN seq bigint",
    POSTGRES_CONVERT,
    "CREATE INDEX roster_change_order ON roster_change (seq, id)",
    POSTGRES_BUMP,
]
POSTGRES_BACKWARDS = [
    "CREATE OR REPLACE FUNCTION roster_version_bump_at_commit() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "DELETE FROM roster_version_pending WHERE xact = NEW.xact; "
    "UPDATE roster_version SET version = version + 1 WHERE id = 1; "
    f"PERFORM set_config('{PENDING_SETTING}', 'off', true); "
    "RETURN NULL; END $$",
    "DROP INDEX IF EXISTS roster_change_order",
    # Positions go back to transaction ids: followers' cursors start again from the oldest.
    "UPDATE webhook_endpoint SET cursor_txid = 0, cursor_id = 0",
    "UPDATE roster_change_pruned SET txid = 0, change_id = 0",
    "ALTER TABLE roster_change DROP COLUMN IF EXISTS seq",
]


async def _run(statements_by_engine: dict[str, list[str]]) -> None:
    engine = engine_finder()
    if engine.engine_type not in statements_by_engine:
        raise ValueError(f"no change-order migration for the {engine.engine_type} engine")
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
