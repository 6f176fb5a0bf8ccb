"""Mixed load against the production command on PostgreSQL, with figures.

Starts `python -m home.server` (what `make serve` runs) in production mode on a fresh database,
then for a fixed time drives many concurrent `GET /fetch/` readers plus one steady writer that
adds members through the admin API (session login, CSRF token, HTTPS as seen behind a proxy).
Prints requests served, errors, p50/p99 latencies and whether every acknowledged write is stored.

    .venv/bin/python -m bench.load --seconds 30 --readers 32 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

PROJECT_DIR = Path(__file__).resolve().parent.parent
HOST = "localhost"
# What a TLS-terminating proxy in front of the service adds.
PROXY = {"host": HOST, "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.20"}


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


class Stats:
    """Latencies and failures of one kind of request."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def line(self, name: str, seconds: float) -> str:
        ms = [value * 1000 for value in self.latencies]
        return (
            f"{name:<7} {len(ms):>7} ok  {len(self.errors):>4} errors  "
            f"{len(ms) / seconds:>8.1f} req/s  p50 {percentile(ms, 0.50):>7.1f} ms  "
            f"p99 {percentile(ms, 0.99):>7.1f} ms  max {max(ms, default=0):>7.1f} ms"
        )


async def reader(url: str, stats: Stats, deadline: float, token: str | None, delay: float) -> None:
    """One client on its own keep-alive connection: GET /fetch/ back to back until the deadline."""
    # Clients arrive one by one, as real ones do, so the workers' accept loops share them.
    await asyncio.sleep(delay)
    headers = {**PROXY, **({"authorization": f"Bearer {token}"} if token else {})}
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = await http.get("/fetch/", headers=headers)
                # A prefix check: parsing every body would make the client the bottleneck.
                if response.status_code == 200 and response.content.startswith(b'{"ok":true'):
                    stats.latencies.append(time.perf_counter() - started)
                else:
                    stats.errors.append(f"{response.status_code} {response.text[:200]}")
            except httpx.HTTPError as error:
                stats.errors.append(repr(error))


async def writer(
    http: httpx.AsyncClient,
    stats: Stats,
    deadline: float,
    interval: float,
    user: str,
    password: str,
) -> list[str]:
    """Log in to the admin and add one member every `interval` seconds; return the names stored."""
    page = await http.get("/admin/", headers=PROXY)
    csrf = page.cookies["csrftoken"]
    write_headers = {**PROXY, "origin": f"https://{HOST}", "x-csrftoken": csrf}
    login = await http.post(
        "/admin/public/login/",
        json={"username": user, "password": password},
        headers={**write_headers, "cookie": f"csrftoken={csrf}"},
    )
    login.raise_for_status()
    # The session cookie is Secure (production); pass it by hand as the proxy's client would.
    cookie = f"csrftoken={csrf}; id={login.cookies['id']}"
    acknowledged = []
    number = 0
    run = uuid.uuid4().hex[:6].upper()
    while time.monotonic() < deadline:
        name = f"LOAD{run}{number:06d}"
        number += 1
        started = time.perf_counter()
        try:
            response = await http.post(
                "/admin/api/tables/member/",
                json={"real_name": name, "tz": "Europe/Berlin"},
                headers={**write_headers, "cookie": cookie},
            )
            if response.status_code == 201:
                stats.latencies.append(time.perf_counter() - started)
                acknowledged.append(name)
            else:
                stats.errors.append(f"{response.status_code} {response.text[:200]}")
        except httpx.HTTPError as error:
            stats.errors.append(repr(error))
        await asyncio.sleep(interval)
    return acknowledged


def start_server(env: dict[str, str], log_dir: Path, members: int) -> subprocess.Popen:
    """The same steps as `make serve` (check, migrate, serve), with an admin and demo data."""
    python = sys.executable
    steps = [
        ["-m", "home.server", "--check"],
        ["-m", "piccolo.main", "migrations", "forwards", "all"],
        ["-m", "piccolo.main", "home", "ensure_admin"],
        ["-m", "piccolo.main", "home", "populate", str(members)],
    ]
    for step in steps:
        subprocess.run([python, *step], cwd=PROJECT_DIR, env=env, check=True, capture_output=True)
    with (log_dir / "access.log").open("wb") as out, (log_dir / "server.log").open("wb") as err:
        return subprocess.Popen(
            [python, "-m", "home.server"], cwd=PROJECT_DIR, env=env, stdout=out, stderr=err
        )


async def wait_ready(url: str, process: subprocess.Popen, log_dir: Path) -> None:
    """Poll /health/ready until the server answers 200."""
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if process.poll() is not None:
                sys.exit("server exited:\n" + (log_dir / "server.log").read_text())
            try:
                if (await http.get(url + "/health/ready", headers=PROXY)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    sys.exit("server never became ready")


async def main(args: argparse.Namespace) -> int:
    """Run the load and print the figures; exit 1 on any error or lost write."""
    database = f"roster_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_url = args.pg_url
    database_url = admin_url.rsplit("/", 1)[0] + "/" + database
    connection = await asyncpg.connect(admin_url)
    await connection.execute(f'CREATE DATABASE "{database}"')
    await connection.close()
    log_dir = Path(tempfile.mkdtemp(prefix="roster-load-"))
    password = secrets.token_urlsafe(18)
    token = secrets.token_hex(16) if args.token else None
    env = {
        **os.environ,
        "APP_ENV": "production",
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(args.port),
        "WEB_CONCURRENCY": str(args.workers),
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "ADMIN_USERNAME": "loadbench",
        "ADMIN_PASSWORD": password,
        "LOGIN_RATE_STATE": str(log_dir / "login-attempts.sqlite"),
    }
    env.pop("DEBUG", None)
    if token:
        env["FETCH_TOKEN"] = token
    else:
        env.pop("FETCH_TOKEN", None)
    url = f"http://127.0.0.1:{args.port}"
    process = None
    try:
        process = start_server(env, log_dir, args.members)
        await wait_ready(url, process, log_dir)
        reads, writes = Stats(), Stats()
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            started = time.monotonic()
            deadline = started + args.seconds
            results = await asyncio.gather(
                writer(http, writes, deadline, args.write_interval, "loadbench", password),
                *(reader(url, reads, deadline, token, 0.02 * n) for n in range(args.readers)),
            )
            elapsed = time.monotonic() - started
        acknowledged = results[0]
        check = await asyncpg.connect(database_url)
        stored = {row["real_name"] for row in await check.fetch("SELECT real_name FROM member")}
        await check.close()
        missing = [name for name in acknowledged if name not in stored]
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        connection = await asyncpg.connect(admin_url)
        await connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await connection.close()
    logged = [
        json.loads(line) for line in (log_dir / "access.log").read_text().splitlines() if line
    ]
    shutil.rmtree(log_dir, ignore_errors=True)
    server_errors = sum(1 for line in logged if line["status"] >= 500)
    per_worker = sorted(Counter(line["pid"] for line in logged).values(), reverse=True)
    total_errors = len(reads.errors) + len(writes.errors)
    print(
        f"load: {args.seconds:.0f} s, {args.readers} readers + 1 admin writer "
        f"(every {args.write_interval * 1000:.0f} ms), {args.workers} workers, PostgreSQL, "
        f"{args.members} members x 3 periods to start, FETCH_TOKEN {'on' if token else 'off'}"
    )
    print(reads.line("reads", elapsed))
    print(writes.line("writes", elapsed))
    print(
        f"total   {len(reads.latencies) + len(writes.latencies):>7} requests served, "
        f"{total_errors} errors; server access log: {len(logged)} lines, {server_errors} 5xx, "
        f"per worker {per_worker}"
    )
    print(
        f"writes  {len(acknowledged)} acknowledged, {len(acknowledged) - len(missing)} present "
        f"afterwards, {len(missing)} missing"
    )
    for error in (reads.errors + writes.errors)[:5]:
        print("  error:", error)
    return 1 if total_errors or missing or server_errors else 0


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--readers", type=int, default=32, help="concurrent /fetch/ clients")
    parser.add_argument("--write-interval", type=float, default=0.05, help="seconds between writes")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--members", type=int, default=200, help="members populated before the run")
    parser.add_argument("--port", type=int, default=8350)
    parser.add_argument("--token", action="store_true", help="set FETCH_TOKEN and send it")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a server where a throw-away database may be created and dropped",
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
