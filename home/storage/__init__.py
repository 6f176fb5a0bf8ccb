"""Storage: the database engines, and every difference between SQLite and PostgreSQL.

SQLite is the embedded default; `DATABASE_URL` selects PostgreSQL. Each engine has an adapter
(`sqlite.py`, `postgres.py`) behind one interface (`base.Adapter`): data version, read
snapshot, write transaction, batch writer, outage classification and the SQL dialect. The
rest of the service holds a `Storage` and calls `storage.adapter()`; it never imports a
driver or asks which engine is in use. The plain SQL of the read path (`roster_query.py`)
and the admin's login throttle (`login_attempts.py`: the database on PostgreSQL, a file on
SQLite) live here too.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine

from home.roster.tables import Member
from home.settings import Settings
from home.storage.base import Adapter, ChangeRow, DataVersion, Position, RelaySlot, Snapshot
from home.storage.postgres import PostgresAdapter, build_postgres_engine
from home.storage.sqlite import SQLiteAdapter
from home.storage.sqlite_engine import SQLITE_BUSY_TIMEOUT, RosterSQLiteEngine

__all__ = [
    "Adapter",
    "ChangeRow",
    "DataVersion",
    "Position",
    "RelaySlot",
    "Snapshot",
    "Storage",
    "build_engine",
    "engine_name",
    "is_unavailable",
]

logger = logging.getLogger("roster.storage")


def engine_name(settings: Settings) -> str:
    """The engine these settings select, as people call it: `SQLite` or `PostgreSQL`."""
    return PostgresAdapter.name if settings.database_url else SQLiteAdapter.name


def build_engine(settings: Settings) -> Engine:
    """The Piccolo engine for these settings (used by `piccolo_conf.py`)."""
    if settings.database_url:
        return build_postgres_engine(settings)
    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return RosterSQLiteEngine(path=str(settings.sqlite_path), timeout=SQLITE_BUSY_TIMEOUT)


def adapter_for(engine: Engine, settings: Settings) -> Adapter:
    """The adapter for a Piccolo engine."""
    if isinstance(engine, SQLiteEngine):
        return SQLiteAdapter(engine, settings)
    return PostgresAdapter(engine, settings)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database cannot answer now (down, locked, refusing us)."""
    return SQLiteAdapter.is_unavailable(error) or PostgresAdapter.is_unavailable(error)


class Storage:
    """The adapter for the engine the roster's tables are bound to, with these settings.

    The engine is looked up on each call (one attribute read), so tests that bind the tables
    to another database get an adapter for it.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._adapter: Adapter | None = None
        self._made: list[Adapter] = []

    def adapter(self) -> Adapter:
        """The adapter for the bound engine (made on first use of each engine)."""
        engine = Member._meta.db
        adapter = self._adapter
        if adapter is None or adapter.engine is not engine:
            adapter = next((made for made in self._made if made.engine is engine), None)
            if adapter is None:
                adapter = adapter_for(engine, self.settings)
                self._made.append(adapter)
            self._adapter = adapter
        return adapter

    async def open(self) -> None:
        """Open the pool and prove the database answers; log and re-raise if it does not.

        With DB_REQUIRED_AT_START=false (set by `home.server` for its workers, after it checked
        the database itself) a worker started during an outage logs it and answers 503 until
        the database is back.
        """
        adapter = self.adapter()
        await adapter.open()
        try:
            await adapter.ping()
        except Exception as error:
            if self.settings.db_required_at_start:
                logger.exception("cannot reach the %s database at start-up", adapter.name)
                raise
            logger.error(
                "cannot reach the %s database at start-up (%s: %s); answering 503 until it answers",
                adapter.name,
                type(error).__name__,
                error,
            )
            return
        logger.info("database ready (%s)", adapter.name)

    async def close(self) -> None:
        """Close the pool and every connection the adapters made."""
        for adapter in self._made:
            await adapter.close()

    @asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Litestar lifespan hook: the database is open exactly as long as the app runs."""
        await self.open()
        try:
            yield
        finally:
            await self.close()
