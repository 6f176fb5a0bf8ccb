"""A real PostgreSQL outage while the production command runs: quick 503s, then recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import asyncpg
import httpx
import pytest

from tests.support import cli
from tests.support.pgcluster import PrivateCluster, unavailable_reason
from tests.support.servers import Server

MEMBERS = 5
OUTAGE_BODY = {"ok": False, "error": "the database is unavailable; retry shortly"}


@pytest.fixture(scope="module")
def cluster():
    """A private cluster with a migrated, populated roster; always removed afterwards."""
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"cannot create a private PostgreSQL cluster: {reason}")
        pytest.skip(f"cannot create a private PostgreSQL cluster: {reason}")
    made = PrivateCluster()
    try:
        made.create()
        env = cli.command_env({"DATABASE_URL": made.url})
        for command in (["migrations", "forwards", "all"], ["home", "populate", str(MEMBERS)]):
            cli.check(cli.piccolo(*command, env=env))
        yield made
    finally:
        made.destroy()


def timed_get(url: str) -> tuple[httpx.Response, float]:
    """GET and how long it took, in seconds."""
    started = time.perf_counter()
    response = httpx.get(url, timeout=30)
    return response, time.perf_counter() - started


def wait_for(url: str, status: int, within: float) -> httpx.Response:
    """Poll until `url` answers `status`."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(url, timeout=30)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_stopped_database_gives_quick_503s_and_recovers_without_restart(cluster):
    with Server({"DATABASE_URL": cluster.url}, workers=2, DB_CONNECT_TIMEOUT="2") as server:
        before = httpx.get(server.url + "/fetch/").json()
        assert len(before["members"]) == MEMBERS

        cluster.stop()
        for _ in range(6):  # enough to reach both workers
            response, seconds = timed_get(server.url + "/fetch/")
            assert response.status_code == 503, response.text
            assert response.json() == OUTAGE_BODY
            assert seconds < 5
        ready, seconds = timed_get(server.url + "/health/ready")
        assert ready.status_code == 503 and ready.json()["ok"] is False and seconds < 5
        assert httpx.get(server.url + "/health/live").status_code == 200

        # A worker that dies and is restarted during the outage must not stop the service.
        os.kill(server.worker_pids()[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while server.stderr().count("Application startup complete") < 3:
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.2)
        assert server.process.poll() is None
        for _ in range(6):
            assert httpx.get(server.url + "/fetch/").status_code == 503

        cluster.start()
        assert wait_for(server.url + "/health/ready", 200, within=20).status_code == 200
        for _ in range(6):
            after = httpx.get(server.url + "/fetch/")
            assert after.status_code == 200
            assert after.json() == before
        assert server.process.poll() is None
    assert "Traceback" not in server.stderr()


def test_frozen_database_times_out_instead_of_hanging(cluster):
    env = {"DATABASE_URL": cluster.url}
    timeouts = {"DB_CONNECT_TIMEOUT": "1", "DB_COMMAND_TIMEOUT": "1", "HEALTH_TIMEOUT": "1"}
    with Server(env, workers=1, **timeouts) as server:
        assert httpx.get(server.url + "/fetch/").status_code == 200
        cluster.pause()
        try:
            response, seconds = timed_get(server.url + "/fetch/")
            assert response.status_code == 503 and response.json() == OUTAGE_BODY
            assert seconds < 6
            ready, seconds = timed_get(server.url + "/health/ready")
            assert ready.status_code == 503 and seconds < 6
        finally:
            cluster.resume()
        assert wait_for(server.url + "/fetch/", 200, within=20).status_code == 200


def test_dropped_database_gives_503_and_recovers_once_it_is_back():
    """A database that is gone (or a user it refuses) is an outage, not a 500."""
    from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database, pg_url

    name = asyncio.run(create_pg_database())
    env = {"DATABASE_URL": pg_url(name)}

    def migrate() -> None:
        cli.check(cli.piccolo("migrations", "forwards", "all", env=cli.command_env(env)))

    async def create_again() -> None:
        connection = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    try:
        migrate()
        with Server(env, workers=1, DB_CONNECT_TIMEOUT="2") as server:
            assert httpx.get(server.url + "/fetch/").status_code == 200
            asyncio.run(drop_pg_database(name))
            for path in ("/fetch/", "/health/ready"):
                response, seconds = timed_get(server.url + path)
                assert response.status_code == 503, (path, response.text)
                assert response.json()["ok"] is False and seconds < 5
            assert "InvalidCatalogNameError" in server.stderr()

            asyncio.run(create_again())
            migrate()
            assert wait_for(server.url + "/health/ready", 200, within=20).status_code == 200
            assert httpx.get(server.url + "/fetch/").json() == {"ok": True, "members": []}
        assert "Traceback" not in server.stderr()
    finally:
        asyncio.run(drop_pg_database(name))
