"""Pooled /fetch/ readers: PostgreSQL's slow readers cannot starve everyone else of
connections; SQLite's idle connections survive threads that race for them."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

from home.storage import DataVersion
from home.storage.postgres import PostgresAdapter
from home.storage.sqlite import IDLE_READERS, SQLiteAdapter
from tests.conftest import TEST_SETTINGS
from tests.factories import make_roster


@pytest.fixture
def small_pool(pg):
    """An adapter as if DB_POOL_SIZE=2 and DB_CONNECT_TIMEOUT=0.3 (one snapshot at a time)."""
    settings = dataclasses.replace(TEST_SETTINGS, db_pool_size=2, db_connect_timeout=0.3)
    return PostgresAdapter(pg.engine, settings)


async def test_held_snapshot_leaves_room_for_version_checks(small_pool):
    await make_roster(3)
    async with small_pool.snapshot("SELECT id FROM member", []) as held:
        assert len(await held.fetch(10)) == 3
        # Every request starts with a version check: it must not wait behind the stream.
        # Were it queued for the stream's connection, the 0.3 s acquire timeout would raise.
        assert isinstance(await small_pool.current_version(), DataVersion)


async def test_snapshot_beyond_the_limit_times_out_instead_of_hanging(small_pool):
    async with small_pool.snapshot("SELECT id FROM member", []):
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            async with small_pool.snapshot("SELECT id FROM member", []):
                pass
        assert time.perf_counter() - started < 10  # waited about 0.3 s, not for the stream


async def test_busy_pool_makes_fetch_answer_503_not_hang(pg, client_for):
    client = client_for(db_connect_timeout=0.3)
    await make_roster(2)
    pool = pg.engine.pool
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        started = time.perf_counter()
        response = await asyncio.wait_for(client.get("/fetch/"), 30)
        assert response.status_code == 503
        assert response.json()["ok"] is False
        assert time.perf_counter() - started < 10  # about 0.3 s: it did not wait for a connection
    finally:
        for connection in held:
            await pool.release(connection)
    assert (await client.get("/fetch/")).status_code == 200


async def test_threads_racing_for_the_last_idle_sqlite_connection_both_get_one(sqlite_db):
    adapter = SQLiteAdapter(sqlite_db.engine, TEST_SETTINGS)
    taken = []
    raced = threading.Event()

    class Contended(list):
        """Idle connections that another worker thread empties just as this one takes one."""

        def pop(self, *args):
            if not raced.is_set():
                raced.set()
                rival = threading.Thread(target=lambda: taken.append(adapter._take()))
                rival.start()
                rival.join()
            return super().pop(*args)

    adapter._idle = Contended([adapter._connect()])
    try:
        mine = await asyncio.to_thread(adapter._take)
        assert raced.is_set() and len(taken) == 1
        # The rival got the idle connection; this thread, finding none left, a new one.
        assert mine is not taken[0]
        for connection in [mine, *taken]:
            assert connection.execute("SELECT 1").fetchone() == (1,)
            adapter._give_back(connection)
        assert len(adapter._idle) == 2 <= IDLE_READERS
    finally:
        await adapter.close()
