"""Fixtures: every database test runs on SQLite and on PostgreSQL.

Each engine gets one fresh database per test session, migrated with the project's own
migrations; each test starts from empty tables. PostgreSQL tests are skipped when no
server answers, except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import uuid
from pathlib import Path

# Import-time settings for the app under test: never the developer's own database.
_TMP = Path(tempfile.mkdtemp(prefix="roster-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
os.environ["SQLITE_PATH"] = str(_TMP / "import.sqlite")
# Admin login attempts of this run; servers the tests start count their own.
os.environ["LOGIN_RATE_STATE"] = str(_TMP / "login-attempts.sqlite")
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import pytest  # noqa: E402
from piccolo.apps.migrations.commands.forwards import run_forwards  # noqa: E402
from piccolo.apps.migrations.tables import Migration  # noqa: E402
from piccolo.apps.user.tables import BaseUser  # noqa: E402
from piccolo.conf.apps import Finder  # noqa: E402
from piccolo.engine.postgres import PostgresEngine  # noqa: E402
from piccolo_api.session_auth.tables import SessionsBase  # noqa: E402

import piccolo_conf  # noqa: E402
from home.engine import RosterSQLiteEngine  # noqa: E402
from home.tables import ActivityPeriod, Member  # noqa: E402

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
ENGINES = ["sqlite", "postgres"]
TABLES_TO_CLEAR = ["activity_period", "member", "sessions", "piccolo_user"]


def all_tables():
    """Every table class the app and the admin use."""
    return Finder().get_table_classes()


def bind(engine) -> None:
    """Point piccolo_conf and every table at `engine`."""
    from home.admin import ADMIN_TABLES

    piccolo_conf.DB = engine
    tables = {
        *all_tables(),
        *ADMIN_TABLES,
        Member,
        ActivityPeriod,
        BaseUser,
        SessionsBase,
        Migration,
    }
    for table in tables:
        table._meta.db = engine


def pg_url(database: str) -> str:
    """The test server's URL for another database."""
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


async def create_pg_database() -> str:
    """Create a uniquely named, empty database; skip (or fail in CI) without a server."""
    name = f"roster_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {error}"
        if IN_CI:
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def drop_pg_database(name: str) -> None:
    """Drop a database this test session created."""
    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def migrate() -> None:
    """Apply every migration of every app to the bound engine."""
    response = await run_forwards(app_name="all", migration_id="all", fake=False)
    assert response.success, response.message


class Database:
    """A migrated test database, described for code that needs its URL or path."""

    def __init__(self, kind: str, engine, env: dict[str, str]):
        self.kind = kind
        self.engine = engine
        self.env = env

    async def clear(self) -> None:
        """Empty the tables (children first) so each test starts clean."""
        for table in TABLES_TO_CLEAR:
            await self.engine.run_ddl(f'DELETE FROM "{table}"')


async def make_database(kind: str, directory: Path):
    """Create and migrate an empty database of `kind`; return it and a cleanup coroutine."""
    if kind == "sqlite":
        path = directory / f"{uuid.uuid4().hex[:8]}.sqlite"
        engine = RosterSQLiteEngine(path=str(path), timeout=30)
        bind(engine)
        await migrate()

        async def cleanup():
            return None

        return Database(kind, engine, {"SQLITE_PATH": str(path), "DATABASE_URL": ""}), cleanup
    name = await create_pg_database()
    url = pg_url(name)
    engine = PostgresEngine(config={"dsn": url})
    bind(engine)
    await migrate()
    await engine.start_connection_pool(min_size=1, max_size=10)

    async def cleanup():
        await engine.close_connection_pool()
        await drop_pg_database(name)

    return Database(kind, engine, {"DATABASE_URL": url}), cleanup


@pytest.fixture(scope="session")
async def databases():
    """Lazily created databases, one per engine, dropped at the end of the session."""
    made: dict[str, Database] = {}
    cleanups = []

    async def get(kind: str) -> Database:
        if kind not in made:
            database, cleanup = await make_database(kind, _TMP)
            made[kind] = database
            cleanups.append(cleanup)
        return made[kind]

    yield get
    for cleanup in cleanups:
        await cleanup()


@pytest.fixture(params=ENGINES)
async def db(request, databases) -> Database:
    """An empty, migrated database on SQLite or PostgreSQL, bound to every table."""
    database = await databases(request.param)
    bind(database.engine)
    await database.clear()
    return database


_client_hosts = (f"127.0.{i // 250}.{i % 250 + 1}" for i in itertools.count())


async def _only(databases, kind: str):
    database = await databases(kind)
    bind(database.engine)
    await database.clear()
    return database


@pytest.fixture
async def pg(databases):
    """Only the PostgreSQL test database, bound and empty: for what only PostgreSQL does."""
    return await _only(databases, "postgres")


@pytest.fixture
async def sqlite_db(databases):
    """Only the SQLite test database, bound and empty: for what only SQLite does."""
    return await _only(databases, "sqlite")


@pytest.fixture
async def client(db):
    """An HTTP client for the app, on the test's own event loop (no lifespan needed)."""
    from app import app

    # A distinct client address per test keeps the admin's login rate limit per test.
    transport = httpx.ASGITransport(app=app, client=(next(_client_hosts), 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def cli_env(db) -> dict[str, str]:
    """Environment for running the project's CLI against the test database."""
    env = dict(os.environ)
    env.update(db.env)
    if not env.get("DATABASE_URL"):
        env.pop("DATABASE_URL", None)
    return env
