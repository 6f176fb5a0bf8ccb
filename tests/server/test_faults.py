"""A real PostgreSQL outage while the production command runs: quick 503s, then recovery."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import asyncpg
import httpx
import pytest

from home.tooling import cli
from home.tooling.servers import Server
from tests.support.pgcluster import PrivateCluster, unavailable_reason

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


async def timed(http: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    """GET `path` and how long it took, in seconds."""
    started = time.perf_counter()
    response = await http.get(path, timeout=60)
    return response, time.perf_counter() - started


async def each_worker(server: Server, path: str) -> dict[int, tuple[httpx.Response, float]]:
    """GET `path` from every worker of `server` (on a connection it accepted), timed."""
    pinned = await server.clients_per_worker()
    try:
        return {pid: await timed(http, path) for pid, http in pinned.items()}
    finally:
        for http in pinned.values():
            await http.aclose()


async def test_stopped_database_gives_quick_503s_and_recovers_without_restart(cluster):
    with Server({"DATABASE_URL": cluster.url}, workers=2, DB_CONNECT_TIMEOUT="2") as server:
        before = (await each_worker(server, "/fetch/")).popitem()[1][0].json()
        assert len(before["members"]) == MEMBERS

        cluster.stop()
        # Every worker answers 503 within about DB_CONNECT_TIMEOUT, never hangs.
        for path in ("/fetch/", "/health/ready"):
            answers = await each_worker(server, path)
            assert len(answers) == 2
            for response, seconds in answers.values():
                assert response.status_code == 503, response.text
                assert response.json()["ok"] is False and seconds < 10
        assert {r.json()["error"] for r, _ in (await each_worker(server, "/fetch/")).values()} == {
            OUTAGE_BODY["error"]
        }
        live = await each_worker(server, "/health/live")
        assert {response.status_code for response, _ in live.values()} == {200}

        # A worker that dies and is restarted during the outage must not stop the service.
        killed = server.worker_pids()[0]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while server.stderr().count("Application startup complete") < 3:
            assert time.monotonic() < deadline, server.stderr()
            await asyncio.sleep(0.2)
        assert server.process.poll() is None
        during = await each_worker(server, "/fetch/")
        assert killed not in during and len(during) == 2
        assert {response.status_code for response, _ in during.values()} == {503}

        cluster.start()
        # Each worker, the restarted one too, is ready again by itself, and serves the data.
        deadline = time.monotonic() + 30
        while True:
            ready = await each_worker(server, "/health/ready")
            if {response.status_code for response, _ in ready.values()} == {200}:
                break
            assert time.monotonic() < deadline, ready
            await asyncio.sleep(0.2)
        after = await each_worker(server, "/fetch/")
        assert [response.json() for response, _ in after.values()] == [before, before]
        assert server.process.poll() is None
    assert "Traceback" not in server.stderr()


def test_frozen_database_times_out_instead_of_hanging(cluster):
    env = {"DATABASE_URL": cluster.url}
    timeouts = {"DB_CONNECT_TIMEOUT": "1", "DB_COMMAND_TIMEOUT": "1", "HEALTH_TIMEOUT": "1"}
    with Server(env, workers=1, **timeouts) as server:
        assert httpx.get(server.url + "/fetch/", timeout=60).status_code == 200
        cluster.pause()
        try:
            response, seconds = timed_get(server.url + "/fetch/")
            assert response.status_code == 503 and response.json() == OUTAGE_BODY
            assert seconds < 15  # about the 1 s timeouts; a hang would last 30
            ready, seconds = timed_get(server.url + "/health/ready")
            assert ready.status_code == 503 and seconds < 15
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
            assert httpx.get(server.url + "/fetch/", timeout=60).status_code == 200
            asyncio.run(drop_pg_database(name))
            for path in ("/fetch/", "/health/ready"):
                response, seconds = timed_get(server.url + path)
                assert response.status_code == 503, (path, response.text)
                assert response.json()["ok"] is False and seconds < 15
            assert "InvalidCatalogNameError" in server.stderr()

            asyncio.run(create_again())
            migrate()
            assert wait_for(server.url + "/health/ready", 200, within=20).status_code == 200
            assert httpx.get(server.url + "/fetch/", timeout=60).json() == {
                "ok": True,
                "members": [],
            }
        assert "Traceback" not in server.stderr()
    finally:
        asyncio.run(drop_pg_database(name))
