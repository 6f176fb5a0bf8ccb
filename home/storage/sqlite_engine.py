"""Piccolo's SQLite engine as the roster uses it: WAL mode, and ALTER TABLE forms SQLite lacks."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import closing

from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from home.storage import sqlite_schema

# Seconds a SQLite writer waits for another writer's lock before failing.
SQLITE_BUSY_TIMEOUT = 30

# Piccolo writes CHECK constraints as ALTER TABLE ... ADD CONSTRAINT, which SQLite lacks;
# likewise DROP CONSTRAINT (of a CHECK), ALTER COLUMN ... SET DEFAULT, DROP DEFAULT,
# SET NOT NULL and DROP NOT NULL.
_ALTER_TABLE = r'^\s*ALTER TABLE "?(?P<table>\w+)"? '
_ADD_CHECK = re.compile(
    _ALTER_TABLE + r"ADD CONSTRAINT (?P<name>\w+) CHECK \((?P<condition>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_DROP_CONSTRAINT = re.compile(
    _ALTER_TABLE + r'DROP CONSTRAINT (?P<if_exists>IF EXISTS )?"?(?P<name>\w+)"?\s*;?\s*$',
    re.IGNORECASE,
)
_SET_DEFAULT = re.compile(
    _ALTER_TABLE + r'ALTER COLUMN "?(?P<column>\w+)"? SET DEFAULT (?P<default>.*?)\s*;?\s*$',
    re.IGNORECASE | re.DOTALL,
)
_SET_NOT_NULL = re.compile(
    _ALTER_TABLE + r'ALTER COLUMN "?(?P<column>\w+)"? SET NOT NULL\s*;?\s*$', re.IGNORECASE
)
_DROP_FROM_COLUMN = re.compile(
    _ALTER_TABLE + r'ALTER COLUMN "?(?P<column>\w+)"? DROP (?P<what>DEFAULT|NOT NULL)\s*;?\s*$',
    re.IGNORECASE,
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _append_check(create: str, name: str, condition: str) -> str:
    create = create.rstrip()
    if not create.endswith(")"):
        raise ValueError(f"cannot add a constraint to {create!r}")
    return f"{create[:-1]}, CONSTRAINT {name} CHECK ({condition}))"


class RosterSQLiteEngine(SQLiteEngine):
    """SQLite in WAL mode (readers never block the writer) that can alter CHECKs and defaults."""

    async def prep_database(self) -> None:
        # journal_mode is stored in the file itself, so setting it once is enough.
        with sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT) as connection:
            connection.execute("PRAGMA journal_mode=WAL")

    async def run_ddl(self, ddl: str, in_pool: bool = False):
        """Run DDL; CHECK constraints and column defaults are edited in the table's schema."""
        if match := _ADD_CHECK.match(ddl):
            await self._add_check(match["table"], match["name"], match["condition"])
        elif match := _DROP_CONSTRAINT.match(ddl):
            await self._drop_check(match["table"], match["name"], bool(match["if_exists"]))
        elif match := _SET_DEFAULT.match(ddl):
            column, default = match["column"], match["default"]
            await self._edit_create(
                match["table"], lambda create: sqlite_schema.set_default(create, column, default)
            )
        elif match := _SET_NOT_NULL.match(ddl):
            await self._set_not_null(match["table"], match["column"])
        elif match := _DROP_FROM_COLUMN.match(ddl):
            column = match["column"]
            drop = (
                sqlite_schema.drop_default
                if match["what"].upper() == "DEFAULT"
                else sqlite_schema.drop_not_null
            )
            await self._edit_create(match["table"], lambda create: drop(create, column))
        else:
            return await super().run_ddl(ddl, in_pool=in_pool)
        return []

    async def _add_check(self, table: str, name: str, condition: str) -> None:
        async with self.transaction(transaction_type=TransactionType.immediate):
            if await super().run_ddl(f'SELECT 1 FROM "{table}" WHERE NOT ({condition}) LIMIT 1'):
                raise ValueError(
                    f"cannot add CHECK {name} to {table}: existing rows break ({condition})"
                )
            await self._edit_create(table, lambda create: _append_check(create, name, condition))

    async def _set_not_null(self, table: str, column: str) -> None:
        async with self.transaction(transaction_type=TransactionType.immediate):
            if await super().run_ddl(f'SELECT 1 FROM "{table}" WHERE "{column}" IS NULL LIMIT 1'):
                raise ValueError(
                    f"cannot make {table}.{column} NOT NULL: some rows have no {column}; "
                    "give them one first"
                )
            await self._edit_create(
                table, lambda create: sqlite_schema.set_not_null(create, column)
            )

    async def _drop_check(self, table: str, name: str, if_exists: bool) -> None:
        def drop(create: str) -> str:
            dropped = sqlite_schema.drop_check(create, name)
            if dropped is None:
                if if_exists:
                    return create
                raise ValueError(f"table {table} has no constraint {name}")
            return dropped

        await self._edit_create(table, drop)

    async def _edit_create(self, table: str, edit: Callable[[str], str]) -> None:
        """Replace `table`'s CREATE TABLE text by `edit` of it, checked to be valid SQL first."""
        run = super().run_ddl
        async with self.transaction(transaction_type=TransactionType.immediate):
            # SQLite's documented procedure for a schema edit that leaves stored rows valid
            # (https://sqlite.org/lang_altertable.html#otheralter): rewrite the CREATE TABLE text.
            rows = await run(
                f"SELECT sql FROM sqlite_master WHERE type = 'table' AND name = {_quote(table)}"
            )
            if not rows:
                raise ValueError(f"no table {table}")
            create = rows[0]["sql"]
            new_create = edit(create)
            if new_create == create:
                return
            # A text SQLite cannot parse would make the whole file unreadable: try it first.
            with closing(sqlite3.connect(":memory:")) as scratch:
                scratch.execute(new_create)
            version = (await run("PRAGMA schema_version"))[0]["schema_version"]
            await run("PRAGMA writable_schema = ON")
            await run(
                f"UPDATE sqlite_master SET sql = {_quote(new_create)} "
                f"WHERE type = 'table' AND name = {_quote(table)}"
            )
            await run(f"PRAGMA schema_version = {version + 1}")
            await run("PRAGMA writable_schema = OFF")
