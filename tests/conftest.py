"""Fixtures: every database test runs on SQLite and on PostgreSQL.

Each engine gets one fresh database per test session, migrated with the project's own
migrations; each test starts from empty tables. PostgreSQL tests are skipped when no
server answers, except in CI (CI=true), where that is a failure. The app under test is built
with `create_app(settings)` for settings of the test's own; nothing reads the developer's
environment or database.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.apps.user.tables import BaseUser
from piccolo.conf.apps import Finder
from piccolo.engine.postgres import PostgresEngine
from piccolo_api.session_auth.tables import SessionsBase

from app import create_app
from home.admin.site import ADMIN_TABLES
from home.roster.tables import ActivityPeriod, Member
from home.settings import Settings
from home.storage.sqlite_engine import RosterSQLiteEngine
from tests import piccolo_conf

# Piccolo finds its engine through this module; tests bind it to their own databases.
os.environ["PICCOLO_CONF"] = "tests.piccolo_conf"

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"
ENGINES = ["sqlite", "postgres"]
TABLES_TO_CLEAR = [
    "activity_period",
    "member",
    "sessions",
    "piccolo_user",
    "idempotency_key",
    "api_key_usage",
    "api_key",
    "webhook_redelivery",
    "webhook_attempt",
    "webhook_endpoint",
    "audit_entry",
    "roster_change",
]
# Tables only one engine has (SQLite counts admin login attempts in a file of its own).
ENGINE_TABLES_TO_CLEAR = {"sqlite": [], "postgres": ["login_throttle"]}

_TMP = Path(tempfile.mkdtemp(prefix="roster-tests-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
# The settings of the app under test; tests that need others replace fields of these.
TEST_SETTINGS = Settings(
    sqlite_path=_TMP / "unused.sqlite",
    login_rate_state=_TMP / "login-attempts.sqlite",
    # Each test client has an address of its own; these keys are shared by the whole suite,
    # so only the tests of the throttle itself set them low.
    login_account_limit=100_000,
    login_global_limit=100_000,
)


def bind(engine) -> None:
    """Point Piccolo's configuration and every table at `engine`."""
    piccolo_conf.DB = engine
    tables = {
        *Finder().get_table_classes(),
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
        """Empty the tables (children first) so each test starts clean, nothing closed."""
        await self.engine.run_ddl("DELETE FROM closing")
        await self.engine.run_ddl("INSERT INTO closing (id, until) VALUES (1, NULL)")
        for table in [*TABLES_TO_CLEAR, *ENGINE_TABLES_TO_CLEAR[self.kind]]:
            await self.engine.run_ddl(f'DELETE FROM "{table}"')
        await self.engine.run_ddl("UPDATE roster_change_pruned SET txid = 0, change_id = 0")


async def make_database(kind: str, directory: Path = _TMP):
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
            database, cleanup = await make_database(kind)
            made[kind] = database
            cleanups.append(cleanup)
        return made[kind]

    yield get
    for cleanup in cleanups:
        await cleanup()


async def _bound(databases, kind: str) -> Database:
    database = await databases(kind)
    bind(database.engine)
    await database.clear()
    return database


@pytest.fixture(params=ENGINES)
async def db(request, databases) -> Database:
    """An empty, migrated database on SQLite or PostgreSQL, bound to every table."""
    return await _bound(databases, request.param)


@pytest.fixture
async def pg(databases):
    """Only the PostgreSQL test database, bound and empty: for what only PostgreSQL does."""
    return await _bound(databases, "postgres")


@pytest.fixture
async def sqlite_db(databases):
    """Only the SQLite test database, bound and empty: for what only SQLite does."""
    return await _bound(databases, "sqlite")


@pytest.fixture(params=ENGINES)
async def fresh(request, tmp_path):
    """A brand-new migrated database of its own, bound while the test runs."""
    previous = piccolo_conf.DB
    database, cleanup = await make_database(request.param, tmp_path)
    try:
        yield database
    finally:
        await cleanup()
        bind(previous)


_client_hosts = (f"127.0.{i // 250}.{i % 250 + 1}" for i in itertools.count())


@pytest.fixture(scope="session")
def app():
    """The app under test, built once for TEST_SETTINGS; it follows whichever database is
    bound."""
    return create_app(TEST_SETTINGS)


def http_client(app) -> httpx.AsyncClient:
    """An HTTP client for `app` on the test's own event loop (no lifespan: the test database
    is open already), from a client address of its own (the admin limits logins per address)."""
    transport = httpx.ASGITransport(app=app, client=(next(_client_hosts), 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(autouse=True)
def statement_logs_switched_off(request):
    """After a test that used the app, no adapter still records statements (a test that
    watches them must stop watching)."""
    yield
    if "app" in request.fixturenames:
        adapters = request.getfixturevalue("app").state.storage._made
        assert [adapter for adapter in adapters if adapter.statement_log is not None] == []


@pytest.fixture
async def client(db, app):
    """An HTTP client for the app, on SQLite and on PostgreSQL."""
    async with http_client(app) as http:
        yield http


@pytest.fixture
async def client_for():
    """Clients for apps built for other settings, `client_for(fetch_token="...")`, and for
    another clock, `client_for(clock=lambda: 1_800_000_000.0)`."""
    made: list[tuple[httpx.AsyncClient, object]] = []

    def make(clock=time.time, **changes) -> httpx.AsyncClient:
        other = create_app(dataclasses.replace(TEST_SETTINGS, **changes), clock=clock)
        http = http_client(other)
        made.append((http, other))
        return http

    yield make
    for http, other in made:
        await http.aclose()
        await other.state.storage.close()


@pytest.fixture
def adapter(db, app):
    """The storage adapter of the app under test, for the bound database."""
    return app.state.storage.adapter()


@pytest.fixture
async def system(client, adapter):
    """A client system with an API key of its own, on SQLite and on PostgreSQL."""
    from tests.support.client_system import ClientSystem

    return await ClientSystem.register(client, adapter)


@pytest.fixture
def cli_env(db) -> dict[str, str]:
    """Environment for running the project's commands against the test database."""
    from home.tooling.cli import command_env

    return command_env(db.env)
