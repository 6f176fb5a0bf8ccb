"""The database engine chosen by the settings: SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import re
import sqlite3

from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from home.settings import Settings

# Seconds a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT = 30

# Piccolo writes CHECK constraints as ALTER TABLE ... ADD CONSTRAINT, which SQLite lacks.
_ADD_CHECK = re.compile(
    r'^\s*ALTER TABLE "?(?P<table>\w+)"? ADD CONSTRAINT (?P<name>\w+) '
    r"CHECK \((?P<condition>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class RosterSQLiteEngine(SQLiteEngine):
    """SQLite in WAL mode (readers never block the writer) that can add CHECK constraints."""

    async def prep_database(self) -> None:
        # journal_mode is stored in the file itself, so setting it once is enough.
        with sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT) as connection:
            connection.execute("PRAGMA journal_mode=WAL")

    async def run_ddl(self, ddl: str, in_pool: bool = False):
        """Run DDL; a CHECK constraint added to an existing table is written into its schema."""
        match = _ADD_CHECK.match(ddl)
        if match is None:
            return await super().run_ddl(ddl, in_pool=in_pool)
        await self._add_check(match["table"], match["name"], match["condition"])
        return []

    async def _add_check(self, table: str, name: str, condition: str) -> None:
        run = super().run_ddl
        async with self.transaction(transaction_type=TransactionType.immediate):
            if await run(f'SELECT 1 FROM "{table}" WHERE NOT ({condition}) LIMIT 1'):
                raise ValueError(
                    f"cannot add CHECK {name} to {table}: existing rows break ({condition})"
                )
            # SQLite's documented procedure for a schema edit that leaves stored rows valid
            # (https://sqlite.org/lang_altertable.html#otheralter): rewrite the CREATE TABLE text.
            rows = await run(
                f"SELECT sql FROM sqlite_master WHERE type = 'table' AND name = {_quote(table)}"
            )
            create = rows[0]["sql"].rstrip()
            assert create.endswith(")"), create
            new_create = f"{create[:-1]}, CONSTRAINT {name} CHECK ({condition}))"
            version = (await run("PRAGMA schema_version"))[0]["schema_version"]
            await run("PRAGMA writable_schema = ON")
            await run(
                f"UPDATE sqlite_master SET sql = {_quote(new_create)} "
                f"WHERE type = 'table' AND name = {_quote(table)}"
            )
            await run(f"PRAGMA schema_version = {version + 1}")
            await run("PRAGMA writable_schema = OFF")


def build_engine(settings: Settings) -> SQLiteEngine | PostgresEngine:
    """The Piccolo engine for these settings."""
    if settings.engine == "postgres":
        return PostgresEngine(config=settings.postgres_config())
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return RosterSQLiteEngine(path=str(settings.sqlite_path), timeout=SQLITE_BUSY_TIMEOUT)
