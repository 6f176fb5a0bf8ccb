"""The admin's login throttle (storage/login_attempts.py): growing delays per account at an
address, per account, per address and for all logins, counted across worker processes and
restarts, and on PostgreSQL across hosts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from home.settings import Settings
from home.storage.login_attempts import (
    LoginLimitError,
    LoginThrottle,
    Policy,
    PostgresLoginLimit,
    SharedLoginLimit,
    login_throttle,
)
from home.tooling import cli
from home.tooling.cli import PROJECT_DIR
from home.tooling.servers import Server
from home.web.http import client_network
from tests.conftest import PG_ADMIN_URL
from tests.support.admin import AdminSession

# One login attempt counted by a process of its own, as a worker would.
ONE_ATTEMPT = (
    "import sys; from home.storage.login_attempts import Policy, SharedLoginLimit;"
    "SharedLoginLimit(sys.argv[1], Policy(100, 100, 100)).attempt('nobody', '203.0.113.9')"
)
SMALL = Policy(pair_free=2, account_free=4, address_free=6, global_free=10, max_delay=8, window=60)


class Clock:
    """A settable clock for the throttle."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def throttles(request, tmp_path, clock):
    """`throttles(policy)`: a throttle as one worker (SQLite) or one host (PostgreSQL) has it;
    each call another worker or host counting in the same place."""
    made: list[LoginThrottle] = []
    if request.param == "postgresql":
        url = request.getfixturevalue("pg").env["DATABASE_URL"]

        def make(policy: Policy = SMALL) -> LoginThrottle:
            made.append(PostgresLoginLimit(url, policy, clock))
            return made[-1]
    else:
        path = tmp_path / "attempts.sqlite"

        def make(policy: Policy = SMALL) -> LoginThrottle:
            made.append(SharedLoginLimit(path, policy, clock))
            return made[-1]

    yield make
    for throttle in made:
        throttle.close()


def waits(throttle: LoginThrottle, username: str, address: str) -> float | None:
    """Try once: None when the attempt was counted, else the seconds it was asked to wait."""
    refusal = throttle.attempt(username, address)
    return None if refusal is None else refusal.retry_after


def test_delays_grow_past_the_free_attempts_up_to_the_cap(throttles, clock):
    throttle = throttles()
    assert [waits(throttle, "alice", "203.0.113.9") for _ in range(2)] == [None, None]
    delays = []
    for _ in range(6):
        wait = waits(throttle, "alice", "203.0.113.9")
        delays.append(wait)
        clock.now += wait  # the client waits as asked, then tries again
        assert waits(throttle, "alice", "203.0.113.9") is None
    assert delays == [1, 2, 4, 8, 8, 8]  # doubling, capped at max_delay


def test_a_refusal_names_the_limit_and_is_not_counted(throttles, clock):
    throttle = throttles()
    for _ in range(2):
        throttle.attempt("alice", "203.0.113.9")
    refusal = throttle.attempt("alice", "203.0.113.9")
    assert refusal is not None and refusal.limit.key == "pair:203.0.113.9 alice"
    assert refusal.message == (
        "Too many login attempts for this account from this address: "
        "wait 1 second before trying again"
    )
    for _ in range(5):
        throttle.attempt("alice", "203.0.113.9")
    assert throttle.counted("pair:203.0.113.9 alice") == 2


def test_workers_and_a_restart_count_together(throttles, clock):
    first, second = throttles(), throttles()  # as two workers (or hosts) would
    assert waits(first, "alice", "203.0.113.9") is None
    assert waits(second, "alice", "203.0.113.9") is None
    assert waits(first, "alice", "203.0.113.9") == 1
    assert waits(throttles(), "alice", "203.0.113.9") == 1  # a restarted service too
    # Another account at another address has counts of its own.
    assert waits(second, "bob", "198.51.100.1") is None


def test_guesses_spread_over_addresses_are_slowed_per_account(throttles, clock):
    throttle = throttles()
    assert [waits(throttle, "alice", f"203.0.113.{n}") for n in range(4)] == [None] * 4
    refusal = throttle.attempt("alice", "203.0.113.99")
    assert refusal is not None and refusal.limit.name == "for this account"


def test_guesses_at_many_accounts_are_slowed_per_address(throttles, clock):
    throttle = throttles(dataclasses.replace(SMALL, global_free=100))
    assert [waits(throttle, f"user{n}", "203.0.113.9") for n in range(6)] == [None] * 6
    refusal = throttle.attempt("someone-else", "203.0.113.9")
    assert refusal is not None and refusal.limit.name == "from this address"
    # An IPv6 client counts by its /64: changing the low bits changes nothing.
    for n in range(6):
        assert waits(throttle, f"v6-{n}", f"2001:db8:1:2::{n + 1}") is None
    assert waits(throttle, "v6-x", "2001:db8:1:2:ffff::1") == 1
    assert client_network("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert client_network("::ffff:203.0.113.9") == "203.0.113.9"


def test_all_logins_together_have_a_cap(throttles, clock):
    throttle = throttles()
    for n in range(10):
        assert waits(throttle, f"user{n}", f"198.51.100.{n}") is None
    refusal = throttle.attempt("another", "192.0.2.1")
    assert refusal is not None and refusal.limit.name == "to this service"


def test_counts_are_forgotten_after_a_quiet_window(throttles, clock):
    throttle = throttles()
    for _ in range(2):
        throttle.attempt("alice", "203.0.113.9")
    clock.now += 59
    assert throttle.counted("pair:203.0.113.9 alice") == 2
    clock.now += 1
    assert throttle.counted("pair:203.0.113.9 alice") == 0
    assert [waits(throttle, "alice", "203.0.113.9") for _ in range(3)] == [None, None, 1]


def test_a_login_clears_the_accounts_counts_and_gives_back_its_place(throttles, clock):
    throttle = throttles()
    for _ in range(2):
        throttle.attempt("alice", "203.0.113.9")
    throttle.succeeded("alice", "203.0.113.9")
    assert throttle.counted("pair:203.0.113.9 alice") == 0
    assert throttle.counted("user:alice") == 0
    assert throttle.counted("addr:203.0.113.9") == 1  # the login's own attempt given back
    assert throttle.counted("all") == 1
    assert waits(throttle, "alice", "203.0.113.9") is None


def test_a_known_account_and_address_log_in_while_others_are_slowed(throttles, clock):
    throttle = throttles()
    assert throttle.attempt("alice", "203.0.113.9") is None
    throttle.succeeded("alice", "203.0.113.9")
    # Someone behind the same NAT guesses other accounts until the address is slowed, and
    # someone elsewhere guesses alice's password until her account is slowed.
    for n in range(6):
        throttle.attempt(f"user{n}", "203.0.113.9")
    for n in range(4):
        throttle.attempt("alice", f"198.51.100.{n}")
    assert throttle.attempt("newcomer", "203.0.113.9") is not None
    assert throttle.attempt("alice", "192.0.2.1") is not None
    # Alice, from where she logged in before, is counted only as herself at that address.
    assert throttle.attempt("alice", "203.0.113.9") is None
    # ... which a guesser there, with her name, also slows down.
    throttle.attempt("alice", "203.0.113.9")
    assert waits(throttle, "alice", "203.0.113.9") == 1


def test_old_counts_are_swept_and_known_pairs_kept_for_30_days(throttles, clock):
    throttle = throttles()
    throttle.attempt("alice", "203.0.113.9")
    throttle.succeeded("alice", "203.0.113.9")
    throttle.attempt("bob", "198.51.100.1")
    clock.now += 61
    throttle.attempt("carol", "192.0.2.1")  # the first attempt of a window sweeps
    assert throttle._read(["pair:198.51.100.1 bob", "known:203.0.113.9 alice"]).keys() == {
        "known:203.0.113.9 alice"
    }
    clock.now += 30 * 86_400
    throttle.attempt("carol", "192.0.2.1")
    assert throttle._read(["known:203.0.113.9 alice"]) == {}


def test_attempts_at_the_same_moment_are_counted_exactly(throttles):
    workers = [throttles(Policy(address_free=1000, global_free=1000)) for _ in range(4)]

    def attempts(throttle: LoginThrottle) -> None:
        for n in range(25):
            assert throttle.attempt(f"user{n}", "203.0.113.9") is None

    threads = [threading.Thread(target=attempts, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert workers[0].counted("addr:203.0.113.9") == 100


# SQLite: a file every worker on the host opens.


def test_counting_in_separate_processes(tmp_path):
    path = tmp_path / "attempts.sqlite"
    for _ in range(4):
        subprocess.run([sys.executable, "-c", ONE_ATTEMPT, str(path)], cwd=PROJECT_DIR, check=True)
    assert SharedLoginLimit(path, Policy()).counted("addr:203.0.113.9") == 4


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
        assert SharedLoginLimit(path, Policy()).counted("addr:203.0.113.9") == 8


def test_unusable_file_is_refused_with_what_to_change(tmp_path):
    with pytest.raises(LoginLimitError, match="set LOGIN_RATE_STATE to a file"):
        SharedLoginLimit(tmp_path, Policy())  # a directory, not a file
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(LoginLimitError, match="cannot use the login-attempt file"):
        SharedLoginLimit(blocker / "attempts.sqlite", Policy())


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the file to another user")
def test_file_of_another_user_is_refused(tmp_path):
    path = tmp_path / "attempts.sqlite"
    SharedLoginLimit(path, Policy()).close()
    os.chown(path, 65534, 65534)
    with pytest.raises(LoginLimitError, match="belongs to another user"):
        SharedLoginLimit(path, Policy())


def test_production_command_refuses_an_unusable_file(tmp_path):
    result = cli.serve("--check", env=cli.command_env(LOGIN_RATE_STATE=str(tmp_path)))
    assert result.returncode == 2
    assert "set LOGIN_RATE_STATE to a file" in result.stderr
    assert "Traceback" not in result.stderr


async def test_the_workers_of_the_production_command_count_together(databases):
    database = await databases("sqlite")
    logins = 12
    with Server(database.env, workers=2, LOGIN_RATE_LIMIT="100") as server:
        pinned = await server.clients_per_worker()
        try:
            # Half the attempts reach each worker, on a connection it accepted.
            admins = [await AdminSession(http).open() for http in pinned.values()]
            attempts = await asyncio.gather(
                *(admins[n % 2].login(f"nobody{n}", "wrong-password") for n in range(logins))
            )
        finally:
            for http in pinned.values():
                await http.aclose()
        lines = await server.wait_for_log(
            lambda lines: sum(line["path"] == "/admin/public/login/" for line in lines) == logins
        )
    assert [response.status_code for response in attempts] == [401] * logins
    assert {line["pid"] for line in lines if line["path"] == "/admin/public/login/"} == set(pinned)
    # Neither worker counted only its own half.
    counted = SharedLoginLimit(server.env["LOGIN_RATE_STATE"], Policy())
    assert counted.counted("addr:127.0.0.1") == logins


# PostgreSQL: the counts live in the database, so every host using it counts together.


async def test_postgresql_throttle_reconnects_when_the_database_drops_its_connection(pg):
    throttle = PostgresLoginLimit(pg.env["DATABASE_URL"], Policy())
    try:
        throttle.attempt("alice", "203.0.113.9")
        pid = throttle._connection.get_server_pid()
        await pg.engine.run_ddl(f"SELECT pg_terminate_backend({pid})")
        throttle.attempt("alice", "203.0.113.9")
        assert throttle.counted("pair:203.0.113.9 alice") == 2
    finally:
        throttle.close()


def test_postgresql_throttle_without_its_table_says_to_migrate():
    throttle = PostgresLoginLimit(PG_ADMIN_URL, Policy())  # a database never migrated
    try:
        with pytest.raises(LoginLimitError, match="piccolo migrations forwards all"):
            throttle.attempt("alice", "203.0.113.9")
    finally:
        throttle.close()


def test_postgresql_throttle_raises_when_the_database_is_unreachable():
    throttle = PostgresLoginLimit("postgresql://postgres@127.0.0.1:1/roster", Policy())
    try:
        with pytest.raises(OSError):  # an outage, never a 429 or a pass
            throttle.attempt("alice", "203.0.113.9")
    finally:
        throttle.close()


def test_engine_decides_where_login_attempts_are_counted(tmp_path):
    state = tmp_path / "login-attempts.sqlite"
    on_postgresql = login_throttle(
        Settings(database_url="postgresql://roster@db.invalid/roster", login_rate_state=state)
    )
    on_postgresql.close()  # made without connecting: a worker starts while the database is down
    assert isinstance(on_postgresql, PostgresLoginLimit)
    assert not state.exists()
    on_sqlite = login_throttle(
        Settings(sqlite_path=tmp_path / "roster.sqlite", login_rate_state=state)
    )
    on_sqlite.close()
    assert isinstance(on_sqlite, SharedLoginLimit) and state.exists()


def test_settings_shape_the_policy():
    policy = Policy.of(
        Settings(
            login_pair_limit=3,
            login_account_limit=7,
            login_rate_limit=11,
            login_global_limit=99,
            login_max_delay=30,
            login_rate_window=120,
        )
    )
    assert policy == Policy(3, 7, 11, 99, 30, 120)


async def test_production_check_on_postgresql_needs_no_login_attempt_file(pg, tmp_path):
    env = cli.command_env(pg.env, LOGIN_RATE_STATE=str(tmp_path))  # unusable, and unused
    result = await asyncio.to_thread(cli.serve, "--check", env=env)
    assert result.returncode == 0, result.stderr


def host(env: dict[str, str], directory: Path, **settings: str) -> Server:
    """The production command as another host runs it: its own working directory and state."""
    directory.mkdir()
    state = str(directory / "login-attempts.sqlite")
    return Server(env, workers=1, cwd=directory, LOGIN_RATE_STATE=state, **settings)


async def test_hosts_sharing_one_postgresql_database_count_together(pg, tmp_path):
    logins = 12
    with ExitStack() as stack:
        # Started one after the other: a server takes a free port when it is made.
        hosts = [
            stack.enter_context(host(pg.env, tmp_path / name, LOGIN_RATE_LIMIT="100"))
            for name in ("host-a", "host-b")
        ]
        async with (
            httpx.AsyncClient(base_url=hosts[0].url, timeout=60) as first,
            httpx.AsyncClient(base_url=hosts[1].url, timeout=60) as second,
        ):
            admins = [await AdminSession(first).open(), await AdminSession(second).open()]
            attempts = await asyncio.gather(
                *(admins[n % 2].login(f"nobody{n}", "wrong-password") for n in range(logins))
            )
    assert [response.status_code for response in attempts] == [401] * logins
    # Each host took its half, none of them counted in its own file.
    assert [h.stdout().count("/admin/public/login/") for h in hosts] == [logins // 2] * 2
    counted = PostgresLoginLimit(pg.env["DATABASE_URL"], Policy())
    try:
        assert counted.counted("addr:127.0.0.1") == logins
        assert counted.counted("all") == logins
    finally:
        counted.close()
