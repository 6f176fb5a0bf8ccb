"""The production command: refuses unsafe settings, runs workers, logs, stops gracefully."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import asyncpg
import httpx
import pytest

from tests.support import cli
from tests.support.admin import AdminSession
from tests.support.servers import Server, free_port

SAFE_PRODUCTION = {"APP_ENV": "production", "ALLOWED_HOSTS": "roster.example.com", "DEBUG": ""}


def run_serve(args: list[str], **settings: str):
    """`python -m home.server ARGS` to its end, with `settings` on a development environment."""
    return cli.serve(*args, env=cli.command_env(**settings))


@pytest.mark.parametrize("args", [["--check"], []], ids=["check", "start"])
def test_production_start_refuses_unsafe_settings_and_says_why(args):
    result = run_serve(args, APP_ENV="production", DEBUG="true", FETCH_TOKEN="short")
    assert result.returncode == 2
    assert "refusing to start with APP_ENV=production" in result.stderr
    assert "DEBUG is on" in result.stderr
    assert "ALLOWED_HOSTS is empty" in result.stderr
    assert "FETCH_TOKEN is 5 characters long" in result.stderr
    assert "Traceback" not in result.stderr


def test_production_start_accepts_safe_settings():
    result = run_serve(["--check"], **SAFE_PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "settings OK (production" in result.stderr


async def test_workers_share_the_load_and_log_one_json_line_per_request(databases):
    database = await databases("sqlite")
    env = {**database.env, "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with Server(env, workers=2) as server:
        proxy = {"x-forwarded-for": "203.0.113.5", "x-forwarded-proto": "https"}
        async with httpx.AsyncClient(base_url=server.url, headers=proxy) as http:
            responses = await asyncio.gather(*(http.get("/fetch/") for _ in range(60)))
            admin = await http.get("/admin/api/tables/member/")
        assert {response.status_code for response in responses} == {200}
        assert admin.status_code == 401
        assert responses[0].headers["strict-transport-security"]
        await asyncio.sleep(0.5)
        lines = [json.loads(line) for line in server.stdout().splitlines()]
    fetches = [line for line in lines if line["path"] == "/fetch/"]
    assert len(fetches) == 60
    assert len({line["pid"] for line in fetches}) == 2
    assert {line["client"] for line in fetches} == {"203.0.113.5"}
    assert {line["scheme"] for line in fetches} == {"https"}
    [admin_line] = [line for line in lines if line["path"].startswith("/admin/")]
    assert admin_line["path"] == "/admin/api/tables/member/" and admin_line["status"] == 401


async def wait_for_lock_waiter(connection: asyncpg.Connection, within: float = 20) -> None:
    """Wait until another session is blocked on a lock (our request, in flight)."""
    deadline = time.monotonic() + within
    query = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while not await connection.fetchval(query):
        assert time.monotonic() < deadline, "the request never reached the database"
        await asyncio.sleep(0.05)


async def test_graceful_shutdown_finishes_requests_in_flight(databases):
    database = await databases("postgres")
    await database.clear()
    server = Server(database.env, workers=2, GRACEFUL_TIMEOUT="20").start()
    locker = await asyncpg.connect(database.env["DATABASE_URL"])
    results: list[httpx.Response | Exception] = []
    try:
        # Hold the roster locked so a /fetch/ is stuck in flight when the signal arrives.
        locking = locker.transaction()
        await locking.start()
        await locker.execute("LOCK TABLE member IN ACCESS EXCLUSIVE MODE")

        def fetch() -> None:
            try:
                results.append(httpx.get(server.url + "/fetch/", timeout=30))
            except Exception as error:
                results.append(error)

        in_flight = threading.Thread(target=fetch)
        in_flight.start()
        await wait_for_lock_waiter(locker)
        assert not results, "the request should still be waiting for the lock"
        stopped = threading.Thread(target=server.stop)
        stopped.start()
        await asyncio.sleep(1)
        assert server.process.poll() is None, "the server must wait for the request in flight"
        await locking.rollback()
        in_flight.join(30)
        stopped.join(30)
    finally:
        await locker.close()
        server.stop()
    [response] = results
    assert isinstance(response, httpx.Response), response
    assert response.status_code == 200 and response.json()["ok"] is True
    assert server.process.returncode == 0
    assert "Finished server process" in server.stderr()


@pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")
async def test_sqlite_serves_many_readers_while_the_admin_writes(databases):
    database = await databases("sqlite")
    await database.clear()
    env = {**database.env, "ADMIN_USERNAME": "loader", "ADMIN_PASSWORD": "loader-password-123"}
    server = Server(env, workers=2)
    await asyncio.to_thread(server.piccolo, "home", "ensure_admin")
    await asyncio.to_thread(server.piccolo, "home", "populate", "50")
    statuses: list[int] = []
    written: list[str] = []
    failures: list[str] = []
    with server:
        deadline = time.monotonic() + 6
        limits = httpx.Limits(max_connections=40)
        async with (
            httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as readers,
            httpx.AsyncClient(base_url=server.url, timeout=30) as writer_http,
        ):
            admin = await AdminSession(writer_http).open()
            assert (await admin.login("loader", "loader-password-123")).status_code == 200

            async def read() -> None:
                while time.monotonic() < deadline:
                    response = await readers.get("/fetch/")
                    statuses.append(response.status_code)
                    if response.status_code != 200:
                        failures.append(response.text)

            async def write() -> None:
                number = 0
                while time.monotonic() < deadline:
                    name = f"WRITE{number:05d}"
                    response = await admin.add_member(name)
                    if response.status_code == 201:
                        written.append(name)
                    else:
                        failures.append(f"{name}: {response.status_code} {response.text}")
                    number += 1
                    await asyncio.sleep(0.02)

            await asyncio.gather(write(), *(read() for _ in range(24)))
            final = (await readers.get("/fetch/")).json()
    assert failures == []
    assert len(statuses) > 50 and set(statuses) == {200}
    assert len(written) > 10
    names = {member["real_name"] for member in final["members"]}
    assert set(written) <= names
    assert len(final["members"]) == 50 + len(written)
    assert "database is locked" not in server.stderr()


@pytest.mark.parametrize("workers", [1, 2])
def test_start_without_a_database_fails_loudly_with_a_non_zero_exit(workers):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/roster"
    env = {"DATABASE_URL": nowhere, "DB_CONNECT_TIMEOUT": "1", "WEB_CONCURRENCY": str(workers)}
    env["PORT"] = str(free_port())
    result = run_serve([], **env)
    assert result.returncode == 3
    assert "roster: cannot reach the PostgreSQL database: ConnectionRefusedError" in result.stderr
    assert "Traceback" not in result.stderr
