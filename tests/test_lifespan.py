"""Start-up: a database that cannot be reached is logged and raised, never swallowed."""

from __future__ import annotations

import logging
import socket
import warnings

import pytest
from piccolo.engine.postgres import PostgresEngine

from home import db as roster_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_start_up_fails_loudly_when_postgres_is_unreachable(monkeypatch, caplog):
    port = _closed_port()
    with warnings.catch_warnings():
        # Piccolo probes the server's version on construction and warns when refused.
        warnings.simplefilter("ignore")
        engine = PostgresEngine(
            config={"host": "127.0.0.1", "port": port, "user": "postgres", "database": "x"}
        )
    monkeypatch.setattr(roster_db, "engine", lambda: engine)
    caplog.set_level(logging.ERROR, logger="roster.db")
    with pytest.raises(OSError):
        async with roster_db.database_lifespan(None):
            pass
    assert "cannot reach the postgres database at start-up" in caplog.text


async def test_start_up_succeeds_and_closes_on_a_real_database(db):
    if db.kind == "postgres":
        await db.engine.close_connection_pool()
    async with roster_db.database_lifespan(None):
        assert await roster_db.engine().run_querystring(roster_db._select_one())
    if db.kind == "postgres":
        assert db.engine.pool is None
        await db.engine.start_connection_pool(min_size=1, max_size=10)
