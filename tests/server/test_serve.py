"""The production command: refuses unsafe settings, runs workers, logs, stops gracefully."""

from __future__ import annotations

import asyncio
import threading
import time

import asyncpg
import httpx
import pytest

from home.tooling import cli
from home.tooling.servers import Server, free_port, refused_port
from tests.support.admin import AdminSession
from tests.support.locks import lock_waits

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


async def test_every_worker_serves_and_logs_one_json_line_per_request(databases):
    database = await databases("sqlite")
    env = {**database.env, "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    proxy = {"x-forwarded-for": "203.0.113.5", "x-forwarded-proto": "https"}
    with Server(env, workers=2) as server:
        async with httpx.AsyncClient(base_url=server.url, headers=proxy, timeout=60) as http:
            responses = await asyncio.gather(*(http.get("/fetch/") for _ in range(60)))
            admin = await http.get("/admin/api/tables/member/")
        assert {response.status_code for response in responses} == {200}
        assert admin.status_code == 401
        assert responses[0].headers["strict-transport-security"]
        # Each worker answers on the connections it accepted, and logs them as its own.
        pinned = await server.clients_per_worker(headers=proxy)
        served = {}
        for pid, http in pinned.items():
            answer = await http.get("/fetch/")
            assert answer.status_code == 200
            served[answer.headers["x-request-id"]] = pid
            await http.aclose()
        lines = await server.wait_for_log(
            lambda lines: (
                sum(line["path"] == "/fetch/" for line in lines) == 62
                and any(line["path"].startswith("/admin/") for line in lines)
            )
        )
    assert set(pinned) == set(server.worker_pids())
    fetches = [line for line in lines if line["path"] == "/fetch/"]
    by_request = {line["request_id"]: line["pid"] for line in fetches}
    assert {request: by_request[request] for request in served} == served
    assert {line["client"] for line in fetches} == {"203.0.113.5"}
    assert {line["scheme"] for line in fetches} == {"https"}
    [admin_line] = [line for line in lines if line["path"].startswith("/admin/")]
    assert admin_line["path"] == "/admin/api/tables/member/" and admin_line["status"] == 401


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
        assert await lock_waits(locker.fetch) == ["relation"]
        assert not results, "the request should still be waiting for the lock"
        stopped = threading.Thread(target=server.stop)
        stopped.start()
        # The worker got the signal, and waits for the request before it exits.
        deadline = time.monotonic() + 30
        while "Waiting for connections to close" not in server.stderr():
            assert time.monotonic() < deadline, server.stderr()
            await asyncio.sleep(0.05)
        assert server.process.poll() is None, "the server must wait for the request in flight"
        assert not results
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
        limits = httpx.Limits(max_connections=40)
        async with (
            httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as readers,
            httpx.AsyncClient(base_url=server.url, timeout=30) as writer_http,
        ):
            admin = await AdminSession(writer_http).open()
            assert (await admin.login("loader", "loader-password-123")).status_code == 200
            # Until enough of both happened side by side (however slow the machine), or a cap.
            deadline = time.monotonic() + 60

            def going() -> bool:
                enough = len(written) >= 20 and len(statuses) >= 200
                return not enough and not failures and time.monotonic() < deadline

            async def read() -> None:
                while going():
                    response = await readers.get("/fetch/")
                    statuses.append(response.status_code)
                    if response.status_code != 200:
                        failures.append(response.text)

            async def write() -> None:
                number = 0
                while going():
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
    assert len(statuses) >= 200 and set(statuses) == {200}
    assert len(written) >= 20
    names = {member["real_name"] for member in final["members"]}
    assert set(written) <= names
    assert len(final["members"]) == 50 + len(written)
    assert "database is locked" not in server.stderr()


@pytest.mark.parametrize("workers", [1, 2])
def test_start_without_a_database_fails_loudly_with_a_non_zero_exit(workers):
    with refused_port() as port:
        nowhere = f"postgresql://postgres@127.0.0.1:{port}/roster"
        env = {"DATABASE_URL": nowhere, "DB_CONNECT_TIMEOUT": "1", "WEB_CONCURRENCY": str(workers)}
        env["PORT"] = str(free_port())
        result = run_serve([], **env)
    assert result.returncode == 3
    assert "roster: cannot reach the PostgreSQL database: ConnectionRefusedError" in result.stderr
    assert "Traceback" not in result.stderr
