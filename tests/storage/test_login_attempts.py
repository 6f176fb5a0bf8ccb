"""The admin's login rate limit (storage/login_attempts.py) holds across worker processes and
restarts, and on PostgreSQL across hosts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from piccolo_api.rate_limiting.middleware import RateLimitError

from home.settings import Settings
from home.storage import login_attempts
from home.storage.login_attempts import (
    LoginLimitError,
    PostgresLoginLimit,
    SharedLoginLimit,
    login_limit,
)
from home.tooling import cli
from home.tooling.cli import PROJECT_DIR
from home.tooling.servers import Server
from tests.conftest import PG_ADMIN_URL
from tests.support.admin import AdminSession

# One login attempt counted by a process of its own, as a worker would.
ONE_ATTEMPT = (
    "import sys; from home.storage.login_attempts import SharedLoginLimit;"
    "SharedLoginLimit(sys.argv[1], limit=100, timespan=600).increment('203.0.113.9')"
)


class Clock:
    """A settable `time.time` for the provider."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(login_attempts.time, "time", clock)
    return clock


def provider(path, limit: int = 3, timespan: int = 60) -> SharedLoginLimit:
    return SharedLoginLimit(path, limit=limit, timespan=timespan)


def allowed(limit: login_attempts.LoginLimit, client: str) -> bool:
    try:
        limit.increment(client)
    except RateLimitError:
        return False
    return True


def test_workers_count_one_client_together(tmp_path, clock):
    path = tmp_path / "attempts.sqlite"
    first, second = provider(path), provider(path)  # as two worker processes would
    assert [allowed(worker, "203.0.113.9") for worker in (first, second, first)] == [True] * 3
    assert not allowed(second, "203.0.113.9")
    assert not allowed(first, "203.0.113.9")
    # Another address has its own count.
    assert allowed(second, "198.51.100.1")
    # A restarted service still blocks the client.
    assert not allowed(provider(path), "203.0.113.9")


def test_block_lasts_one_window_then_counting_starts_again(tmp_path, clock):
    limit = provider(tmp_path / "attempts.sqlite", limit=2, timespan=60)
    assert allowed(limit, "a") and allowed(limit, "a")
    clock.now += 10
    assert not allowed(limit, "a")  # blocked from now until now + 60
    clock.now += 59
    assert not allowed(limit, "a")
    clock.now += 2
    assert allowed(limit, "a") and allowed(limit, "a") and not allowed(limit, "a")


def test_window_starts_at_a_clients_first_attempt(tmp_path, clock):
    limit = provider(tmp_path / "attempts.sqlite", limit=2, timespan=60)
    assert allowed(limit, "a") and allowed(limit, "a")
    clock.now += 60  # the window is over: the count starts again
    assert limit.attempts("a") == 0
    assert allowed(limit, "a") and allowed(limit, "a")
    assert limit.attempts("a") == 2


def test_old_clients_are_forgotten(tmp_path, clock):
    limit = provider(tmp_path / "attempts.sqlite", limit=2, timespan=60)
    for client in ("a", "b", "c"):
        limit.increment(client)
    clock.now += 61
    limit.increment("d")
    rows = limit._connection.execute("SELECT client FROM login_attempt").fetchall()
    assert rows == [("d",)]


def test_counting_in_separate_processes(tmp_path):
    path = tmp_path / "attempts.sqlite"
    for _ in range(4):
        subprocess.run([sys.executable, "-c", ONE_ATTEMPT, str(path)], cwd=PROJECT_DIR, check=True)
    assert provider(path, limit=100, timespan=600).attempts("203.0.113.9") == 4


def test_unusable_file_is_refused_with_what_to_change(tmp_path):
    with pytest.raises(LoginLimitError, match="set LOGIN_RATE_STATE to a file"):
        provider(tmp_path)  # a directory, not a file
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(LoginLimitError, match="cannot use the login-attempt file"):
        provider(blocker / "attempts.sqlite")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the file to another user")
def test_file_of_another_user_is_refused(tmp_path):
    path = tmp_path / "attempts.sqlite"
    provider(path).close()
    os.chown(path, 65534, 65534)
    with pytest.raises(LoginLimitError, match="belongs to another user"):
        provider(path)


def test_production_command_refuses_an_unusable_file(tmp_path):
    result = cli.serve("--check", env=cli.command_env(LOGIN_RATE_STATE=str(tmp_path)))
    assert result.returncode == 2
    assert "set LOGIN_RATE_STATE to a file" in result.stderr
    assert "Traceback" not in result.stderr


async def test_limit_holds_across_the_workers_of_the_production_command(databases):
    database = await databases("sqlite")
    limit = 30
    with Server(database.env, workers=2, LOGIN_RATE_LIMIT=str(limit)) as server:
        pinned = await server.clients_per_worker()
        try:
            # Half the attempts reach each worker, on a connection it accepted.
            admins = [await AdminSession(http).open() for http in pinned.values()]
            attempts = await asyncio.gather(
                *(admins[n % 2].login("nobody", "wrong-password") for n in range(limit))
            )
            over = [await admin.login("nobody", "wrong-password") for admin in admins]
        finally:
            for http in pinned.values():
                await http.aclose()
        lines = await server.wait_for_log(
            lambda lines: sum(line["path"] == "/admin/public/login/" for line in lines) == limit + 2
        )
    assert [response.status_code for response in attempts] == [401] * limit
    # Past the limit in total, each worker refuses: neither counted only its own half.
    assert [response.status_code for response in over] == [429, 429]
    logins = [line for line in lines if line["path"] == "/admin/public/login/"]
    assert {line["pid"] for line in logins} == set(pinned)
    counted = SharedLoginLimit(server.env["LOGIN_RATE_STATE"], limit=limit, timespan=300)
    # The attempt that went over is counted; a blocked client's row is then left alone.
    assert counted.attempts("127.0.0.1") == limit + 1


def test_many_workers_opening_a_new_file_at_once_all_start(tmp_path):
    """Make sure workers started together can all create and use a new attempts file."""
    path = tmp_path / "attempts.sqlite"
    for _ in range(3):
        path.unlink(missing_ok=True)
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", ONE_ATTEMPT, str(path)],
                cwd=PROJECT_DIR,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(8)
        ]
        results = [(p.communicate(timeout=60)[1], p.returncode) for p in processes]
        assert [stderr for stderr, code in results if code != 0] == []
        assert provider(path, limit=100, timespan=600).attempts("203.0.113.9") == 8


# PostgreSQL: the counts live in the database, so every host using it counts together.


@pytest.fixture
def pg_limit(pg):
    """`pg_limit(limit, timespan)`: a provider on the PostgreSQL test database, as one host's."""
    made: list[PostgresLoginLimit] = []

    def make(limit: int = 3, timespan: int = 60, **options) -> PostgresLoginLimit:
        made.append(
            PostgresLoginLimit(pg.env["DATABASE_URL"], limit=limit, timespan=timespan, **options)
        )
        return made[-1]

    yield make
    for limit in made:
        limit.close()


def test_hosts_count_one_client_together_in_postgresql(pg_limit, clock):
    first, second = pg_limit(), pg_limit()  # as two hosts would
    assert [allowed(host, "203.0.113.9") for host in (first, second, first)] == [True] * 3
    assert not allowed(second, "203.0.113.9")
    assert not allowed(first, "203.0.113.9")
    # Another address has its own count.
    assert allowed(second, "198.51.100.1")
    # A restarted service still blocks the client.
    assert not allowed(pg_limit(), "203.0.113.9")


def test_postgresql_block_lasts_one_window_then_counting_starts_again(pg_limit, clock):
    limit = pg_limit(limit=2, timespan=60)
    assert allowed(limit, "a") and allowed(limit, "a")
    clock.now += 10
    assert not allowed(limit, "a")  # blocked from now until now + 60
    assert not allowed(limit, "a")
    assert limit.attempts("a") == 3  # attempts while blocked are not counted
    clock.now += 59
    assert not allowed(limit, "a")
    clock.now += 2
    assert allowed(limit, "a") and allowed(limit, "a") and not allowed(limit, "a")


def test_postgresql_window_starts_at_a_clients_first_attempt(pg_limit, clock):
    limit = pg_limit(limit=2, timespan=60)
    assert allowed(limit, "a")
    clock.now += 30
    assert allowed(limit, "a")
    clock.now += 30  # 60 s after the first attempt: the count starts again
    assert limit.attempts("a") == 0
    assert allowed(limit, "a") and allowed(limit, "a")
    assert limit.attempts("a") == 2


async def test_postgresql_forgets_old_clients(pg, pg_limit, clock):
    limit = pg_limit(limit=2, timespan=60)
    for client in ("a", "b", "c"):
        limit.increment(client)
    clock.now += 61
    limit.increment("d")
    rows = await pg.engine.run_ddl("SELECT client FROM login_attempt")
    assert [row["client"] for row in rows] == ["d"]


def test_postgresql_counts_attempts_at_the_same_moment_exactly(pg_limit):
    hosts = [pg_limit(limit=1000, timespan=600) for _ in range(4)]

    def attempts(host: PostgresLoginLimit) -> None:
        for _ in range(25):
            host.increment("203.0.113.9")

    threads = [threading.Thread(target=attempts, args=(host,)) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hosts[0].attempts("203.0.113.9") == 100


async def test_postgresql_limit_reconnects_when_the_database_drops_its_connection(pg, pg_limit):
    limit = pg_limit()
    limit.increment("a")
    pid = limit._connection.get_server_pid()
    await pg.engine.run_ddl(f"SELECT pg_terminate_backend({pid})")
    limit.increment("a")
    assert limit.attempts("a") == 2


def test_postgresql_limit_without_its_table_says_to_migrate():
    limit = PostgresLoginLimit(PG_ADMIN_URL, limit=3, timespan=60)  # a database never migrated
    try:
        with pytest.raises(LoginLimitError, match="piccolo migrations forwards all"):
            limit.increment("a")
    finally:
        limit.close()


def test_postgresql_limit_raises_when_the_database_is_unreachable():
    limit = PostgresLoginLimit("postgresql://postgres@127.0.0.1:1/roster", limit=3, timespan=60)
    try:
        with pytest.raises(OSError):  # an outage, never a 429 or a pass
            limit.increment("a")
    finally:
        limit.close()


def test_engine_decides_where_login_attempts_are_counted(tmp_path):
    state = tmp_path / "login-attempts.sqlite"
    on_postgresql = login_limit(
        Settings(database_url="postgresql://roster@db.invalid/roster", login_rate_state=state)
    )
    on_postgresql.close()  # made without connecting: a worker starts while the database is down
    assert isinstance(on_postgresql, PostgresLoginLimit)
    assert not state.exists()
    on_sqlite = login_limit(
        Settings(sqlite_path=tmp_path / "roster.sqlite", login_rate_state=state)
    )
    on_sqlite.close()
    assert isinstance(on_sqlite, SharedLoginLimit) and state.exists()


async def test_production_check_on_postgresql_needs_no_login_attempt_file(pg, tmp_path):
    env = cli.command_env(pg.env, LOGIN_RATE_STATE=str(tmp_path))  # unusable, and unused
    result = await asyncio.to_thread(cli.serve, "--check", env=env)
    assert result.returncode == 0, result.stderr


def host(env: dict[str, str], directory: Path, **settings: str) -> Server:
    """The production command as another host runs it: its own working directory and state."""
    directory.mkdir()
    state = str(directory / "login-attempts.sqlite")
    return Server(env, workers=1, cwd=directory, LOGIN_RATE_STATE=state, **settings)


async def test_limit_holds_across_hosts_sharing_one_postgresql_database(pg, tmp_path):
    limit = 30
    try:
        with ExitStack() as stack:
            # Started one after the other: a server takes a free port when it is made.
            hosts = [
                stack.enter_context(host(pg.env, tmp_path / name, LOGIN_RATE_LIMIT=str(limit)))
                for name in ("host-a", "host-b")
            ]
            async with (
                httpx.AsyncClient(base_url=hosts[0].url, timeout=60) as first,
                httpx.AsyncClient(base_url=hosts[1].url, timeout=60) as second,
            ):
                admins = [await AdminSession(first).open(), await AdminSession(second).open()]
                attempts = await asyncio.gather(
                    *(admins[n % 2].login("nobody", "wrong-password") for n in range(limit))
                )
                over = [await admin.login("nobody", "wrong-password") for admin in admins]
        assert [response.status_code for response in attempts] == [401] * limit
        # The 31st attempt is refused on either host: neither allows a fresh 30.
        assert [response.status_code for response in over] == [429, 429]
        # Each host took its half (and one refused), none of them counted in its own file.
        assert [h.stdout().count("/admin/public/login/") for h in hosts] == [limit // 2 + 1] * 2
        counted = PostgresLoginLimit(pg.env["DATABASE_URL"], limit=limit, timespan=300)
        try:
            assert counted.attempts("127.0.0.1") == limit + 1  # the first refused one counts
        finally:
            counted.close()
    finally:
        await pg.engine.run_ddl("DELETE FROM login_attempt")  # unblock 127.0.0.1 for others
