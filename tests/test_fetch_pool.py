"""Pooled /fetch/ readers: PostgreSQL's slow readers cannot starve everyone else of
connections; SQLite's idle connections survive threads that race for them."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import httpx
import pytest

from home import snapshot
from home.settings import settings
from tests.factories import make_roster


@pytest.fixture
async def pg_client(pg):
    """An HTTP client for the app on the PostgreSQL database."""
    from app import app

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def small_pool(pg, monkeypatch):
    """A reader as if DB_POOL_SIZE=2 and DB_CONNECT_TIMEOUT=0.3 (one snapshot at a time)."""
    monkeypatch.setattr(
        snapshot, "settings", dataclasses.replace(settings, db_pool_size=2, db_connect_timeout=0.3)
    )
    return snapshot.PostgresReader(pg.engine)


async def test_held_snapshot_leaves_room_for_version_checks(small_pool):
    await make_roster(3)
    async with small_pool.snapshot("SELECT id FROM member", []) as held:
        assert len(await held.fetch(10)) == 3
        # Every request starts with a version check: it must not wait behind the stream.
        # Were it queued for the stream's connection, the 0.3 s acquire timeout would raise.
        assert isinstance(await small_pool.current_version(), snapshot.DataVersion)


async def test_snapshot_beyond_the_limit_times_out_instead_of_hanging(small_pool):
    async with small_pool.snapshot("SELECT id FROM member", []):
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            async with small_pool.snapshot("SELECT id FROM member", []):
                pass
        assert time.perf_counter() - started < 2


async def test_busy_pool_makes_fetch_answer_503_not_hang(pg_client, pg, monkeypatch):
    client = pg_client
    await make_roster(2)
    pool = pg.engine.pool
    monkeypatch.setattr(snapshot, "settings", dataclasses.replace(settings, db_connect_timeout=0.3))
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        started = time.perf_counter()
        response = await asyncio.wait_for(client.get("/fetch/"), 10)
        assert response.status_code == 503
        assert response.json()["ok"] is False
        assert time.perf_counter() - started < 5
    finally:
        for connection in held:
            await pool.release(connection)
    assert (await client.get("/fetch/")).status_code == 200


async def test_threads_racing_for_the_last_idle_sqlite_connection_both_get_one(databases):
    sqlite = await databases("sqlite")
    reader = snapshot.SQLiteReader(sqlite.env["SQLITE_PATH"])
    taken = []
    raced = threading.Event()

    class Contended(list):
        """Idle connections that another worker thread empties right after they are checked."""

        def __bool__(self):
            idle = len(self) > 0
            if idle and not raced.is_set():
                raced.set()
                rival = threading.Thread(target=lambda: taken.append(reader._take()))
                rival.start()
                rival.join()
            return idle

    reader._idle = Contended([snapshot._sqlite_connect(reader.path)])
    try:
        mine = await asyncio.to_thread(reader._take)
        assert mine is not None
        for connection in [mine, *taken]:
            reader._give_back(connection)
        assert len(reader._idle) <= snapshot.IDLE_SQLITE_READERS
    finally:
        reader.close()
