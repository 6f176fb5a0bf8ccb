"""SQLite schema edits: CREATE TABLE texts changed as ALTER TABLE would, the rest untouched."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from home.storage.sqlite_engine import RosterSQLiteEngine
from home.storage.sqlite_schema import drop_check, set_default

CREATE = (
    'CREATE TABLE IF NOT EXISTS "t" ("id" UUID PRIMARY KEY NOT NULL DEFAULT None, '
    "\"name\" VARCHAR(100) NOT NULL DEFAULT 'a, (b)', n INTEGER DEFAULT - 1, plain TEXT, "
    "CONSTRAINT name_set CHECK (length(name) >= 1 AND name <> ')'), "
    "CONSTRAINT n_unique UNIQUE (n), CONSTRAINT last CHECK (n > -5))"
)


def test_set_default_replaces_only_that_columns_default():
    edited = set_default(CREATE, "id", "(lower(hex(randomblob(16))))")
    assert edited == CREATE.replace("DEFAULT None", "DEFAULT (lower(hex(randomblob(16))))")
    assert set_default(CREATE, "name", "'x'") == CREATE.replace("'a, (b)'", "'x'")
    assert set_default(CREATE, "n", "2") == CREATE.replace("DEFAULT - 1", "DEFAULT 2")
    assert set_default(CREATE, "PLAIN", "3") == CREATE.replace("plain TEXT", "plain TEXT DEFAULT 3")
    for text in (CREATE, edited):
        with closing(sqlite3.connect(":memory:")) as scratch:
            scratch.execute(text)


def test_drop_check_removes_the_constraint_and_its_comma():
    assert drop_check(CREATE, "name_set") == CREATE.replace(
        "CONSTRAINT name_set CHECK (length(name) >= 1 AND name <> ')'), ", ""
    )
    assert drop_check(CREATE, "last") == CREATE.replace(", CONSTRAINT last CHECK (n > -5)", "")
    assert drop_check(CREATE, "missing") is None
    with closing(sqlite3.connect(":memory:")) as scratch:
        scratch.execute(drop_check(CREATE, "last"))


def test_only_check_constraints_and_known_columns_can_be_edited():
    with pytest.raises(ValueError, match="not a CHECK constraint"):
        drop_check(CREATE, "n_unique")
    with pytest.raises(ValueError, match="no column missing"):
        set_default(CREATE, "missing", "1")
    with pytest.raises(ValueError, match="unbalanced"):
        drop_check("CREATE TABLE t (a, CONSTRAINT c CHECK (a > 1)", "c")


async def test_engine_alters_checks_and_defaults_and_refuses_what_sqlite_cannot_read(tmp_path):
    engine = RosterSQLiteEngine(path=str(tmp_path / "t.sqlite"))
    await engine.run_ddl("CREATE TABLE t (id TEXT PRIMARY KEY DEFAULT 'x', n INTEGER NOT NULL)")
    await engine.run_ddl("ALTER TABLE t ADD CONSTRAINT positive CHECK (n > 0)")
    await engine.run_ddl("ALTER TABLE t ALTER COLUMN id SET DEFAULT (hex(randomblob(4)))")
    await engine.run_ddl("INSERT INTO t (n) VALUES (1), (2)")
    with pytest.raises(sqlite3.IntegrityError, match="positive"):
        await engine.run_ddl("INSERT INTO t (n) VALUES (0)")
    await engine.run_ddl("ALTER TABLE t DROP CONSTRAINT positive")
    await engine.run_ddl('ALTER TABLE "t" DROP CONSTRAINT IF EXISTS positive')
    with pytest.raises(ValueError, match="no constraint positive"):
        await engine.run_ddl("ALTER TABLE t DROP CONSTRAINT positive")
    await engine.run_ddl("INSERT INTO t (n) VALUES (0)")
    schema = await engine.run_ddl("SELECT sql FROM sqlite_master WHERE name = 't'")
    # A default SQLite would refuse (not parenthesised) never reaches the file.
    with pytest.raises(sqlite3.OperationalError):
        await engine.run_ddl("ALTER TABLE t ALTER COLUMN id SET DEFAULT hex(randomblob(4))")
    assert await engine.run_ddl("SELECT sql FROM sqlite_master WHERE name = 't'") == schema
    rows = await engine.run_ddl("SELECT id FROM t ORDER BY n")
    assert len({row["id"] for row in rows}) == 3
