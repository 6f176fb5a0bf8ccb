"""Start-up: a database that cannot be reached is logged and raised, never swallowed."""

from __future__ import annotations

import logging
import socket
import warnings

import pytest
from piccolo.engine.postgres import PostgresEngine

from home.roster.tables import Member
from home.storage import Storage
from tests.conftest import TEST_SETTINGS, bind


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_start_up_fails_loudly_when_postgres_is_unreachable(sqlite_db, caplog):
    port = _closed_port()
    with warnings.catch_warnings():
        # Piccolo probes the server's version on construction and warns when refused.
        warnings.simplefilter("ignore")
        engine = PostgresEngine(
            config={"host": "127.0.0.1", "port": port, "user": "postgres", "database": "x"}
        )
    bind(engine)
    try:
        caplog.set_level(logging.ERROR, logger="roster.storage")
        with pytest.raises(OSError):
            async with Storage(TEST_SETTINGS).lifespan(None):
                pass
    finally:
        bind(sqlite_db.engine)
    assert "cannot reach the PostgreSQL database at start-up" in caplog.text


async def test_start_up_succeeds_and_closes_on_a_real_database(db):
    if db.kind == "postgres":
        await db.engine.close_connection_pool()
    storage = Storage(TEST_SETTINGS)
    async with storage.lifespan(None):
        await storage.adapter().ping()
        assert await Member.count() == 0
    if db.kind == "postgres":
        assert db.engine.pool is None
        await db.engine.start_connection_pool(min_size=1, max_size=10)
