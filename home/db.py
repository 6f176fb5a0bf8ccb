"""Opening, closing and writing to the database the settings chose."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from piccolo.engine.base import Engine
from piccolo.engine.sqlite import TransactionType

from home.settings import settings
from home.tables import Member

logger = logging.getLogger("roster.db")


def engine() -> Engine:
    """The engine the tables are bound to (built in `piccolo_conf.py`)."""
    return Member._meta.db


def write_transaction():
    """A transaction for writers; on SQLite it takes the write lock up front (IMMEDIATE)."""
    db = engine()
    if db.engine_type == "sqlite":
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


async def open_database() -> None:
    """Open the pool and prove the database answers; log and re-raise if it does not.

    With DB_REQUIRED_AT_START=false (set by `home.serve` for its workers, after it checked the
    database itself) a worker started during an outage logs it and answers 503 until it is back.
    """
    db = engine()
    if db.engine_type == "postgres":
        # No floor: asyncpg would log a traceback per failed refill while the server is down.
        await db.start_connection_pool(min_size=0, max_size=settings.db_pool_size)
    try:
        await db.run_querystring(_select_one())
    except Exception as error:
        if settings.db_required_at_start:
            logger.exception("cannot reach the %s database at start-up", db.engine_type)
            raise
        logger.error(
            "cannot reach the %s database at start-up (%s: %s); answering 503 until it answers",
            db.engine_type,
            type(error).__name__,
            error,
        )
        return
    logger.info("database ready (%s)", db.engine_type)


async def close_database() -> None:
    """Close the pool, if the engine has one."""
    db = engine()
    if db.engine_type == "postgres" and db.pool is not None:
        await db.close_connection_pool()


@asynccontextmanager
async def database_lifespan(_app: object) -> AsyncIterator[None]:
    """Litestar lifespan: the pool lives exactly as long as the app."""
    await open_database()
    try:
        yield
    finally:
        await close_database()


def _select_one():
    from piccolo.querystring import QueryString

    return QueryString("SELECT 1")
