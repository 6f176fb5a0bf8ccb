"""Ingest benchmark: client systems start and stop sessions against the production command.

Makes a throw-away database (PostgreSQL with 2 workers by default, or SQLite with 1), an API
key and members, then runs `python -m home.server` and lets concurrent clients alternate
`sessions/start` and `sessions/stop` on members of their own, each event with an
Idempotency-Key (a request that fails in transport is retried with the same key). Prints
events per second, p50/p99 latency and errors, then checks the database: every acknowledged
event is stored exactly once (no period lost, none duplicated, every one as acknowledged).

    .venv/bin/python -m bench.ingest                      # PostgreSQL, 2 workers
    .venv/bin/python -m bench.ingest --engine sqlite      # SQLite, 1 worker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx

from bench.load import percentile
from home.tooling import cli
from home.tooling.servers import Server

FLOOR_EVENTS_PER_SECOND = {"postgresql": 500}
RETRIES = 3


@dataclass
class Client:
    """One client system's run: what it sent and what the service acknowledged."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # period id -> (member, start, end or None), as acknowledged
    periods: dict[int, tuple[str, str, str | None]] = field(default_factory=dict)
    # (change type, period id, time.time() of the answer) of each acknowledged event
    answered: list[tuple[str, int, float]] = field(default_factory=list)
    starts: int = 0
    stops: int = 0


async def send(http: httpx.AsyncClient, path: str, client: Client) -> dict | None:
    """POST with a fresh Idempotency-Key, retried on transport errors with the same key."""
    key = str(uuid.uuid4())
    for attempt in range(RETRIES):
        started = time.perf_counter()
        try:
            response = await http.post(path, json={}, headers={"idempotency-key": key})
        except httpx.TransportError as error:
            if attempt == RETRIES - 1:
                client.errors.append(f"{path}: {error!r}")
            continue
        if response.status_code in (200, 201):
            client.latencies.append(time.perf_counter() - started)
            return response.json()
        client.errors.append(f"{path}: {response.status_code} {response.text[:200]}")
        return None
    return None


async def run_client(
    url: str,
    key: str,
    members: list[str],
    deadline: float,
    client: Client,
    stop_at_end: bool = False,
) -> None:
    """Start and stop sessions on this client's own members, round robin, until the deadline
    (then, with `stop_at_end`, stop the sessions left running, so another round can start
    where this one began)."""
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        running: dict[str, bool] = dict.fromkeys(members, False)
        while time.monotonic() < deadline:
            for member in members:
                if time.monotonic() >= deadline:
                    break
                action = "stop" if running[member] else "start"
                answer = await send(http, f"/api/members/{member}/sessions/{action}", client)
                if answer is None:
                    continue
                running[member] = not running[member]
                client.periods[answer["id"]] = (member, answer["start_time"], answer["end_time"])
                kind = "period.created" if action == "start" else "period.updated"
                client.answered.append((kind, answer["id"], time.time()))
                if action == "start":
                    client.starts += 1
                else:
                    client.stops += 1
        for member, is_running in running.items():
            if is_running and stop_at_end:
                await http.post(f"/api/members/{member}/sessions/stop", json={})


async def stored_periods(engine: str, database: str) -> dict[int, tuple[str, str, str | None]]:
    """Every period in the database: id -> (member, start, end or None), times as the API
    writes them."""

    def rfc3339(moment: datetime | str | None) -> str | None:
        if moment is None:
            return None
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        from home.roster.timefmt import format_rfc3339

        return format_rfc3339(moment)

    if engine == "sqlite":
        with sqlite3.connect(database) as connection:
            rows = connection.execute(
                "SELECT id, member, start_time, end_time FROM activity_period"
            ).fetchall()
    else:
        connection = await asyncpg.connect(database)
        rows = await connection.fetch(
            "SELECT id, member::text, start_time, end_time FROM activity_period"
        )
        await connection.close()
    return {row[0]: (row[1], rfc3339(row[2]), rfc3339(row[3])) for row in rows}


async def main(args: argparse.Namespace) -> int:
    """Run the ingest and print the figures; exit 1 on an error, a lost or duplicated event, or
    a rate below the floor."""
    workers = args.workers or (2 if args.engine == "postgresql" else 1)
    scratch = Path(tempfile.mkdtemp(prefix="roster-ingest-"))
    database = None
    if args.engine == "postgresql":
        name = f"roster_ingest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = await asyncpg.connect(args.pg_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        database = args.pg_url.rsplit("/", 1)[0] + "/" + name
        env = {"DATABASE_URL": database}
    else:
        database = str(scratch / "ingest.sqlite")
        env = {"SQLITE_PATH": database}
    server = Server(env, workers=workers, API_RATE_LIMIT="1000000")
    try:
        cli.check(cli.piccolo("migrations", "forwards", "all", env=server.env))
        key = cli.check(
            cli.piccolo(
                "home",
                "new_api_key",
                "ingest-bench",
                "--scope=read,sessions:write,members:write,admin",
                env=server.env,
            )
        )
        key = key.strip().splitlines()[-1]
        with server:
            async with httpx.AsyncClient(
                base_url=server.url, headers={"authorization": f"Bearer {key}"}, timeout=60
            ) as http:
                members = []
                for number in range(args.clients * args.members_per_client):
                    response = await http.post(
                        "/api/members", json={"real_name": f"INGEST{number:05d}", "tz": "UTC"}
                    )
                    response.raise_for_status()
                    members.append(response.json()["id"])
            clients = [Client() for _ in range(args.clients)]
            started = time.monotonic()
            deadline = started + args.seconds
            await asyncio.gather(
                *(
                    run_client(
                        server.url,
                        key,
                        members[n * args.members_per_client : (n + 1) * args.members_per_client],
                        deadline,
                        client,
                    )
                    for n, client in enumerate(clients)
                )
            )
            elapsed = time.monotonic() - started
        stored = await stored_periods(args.engine, database)
    finally:
        server.stop()
        if args.engine == "postgresql":
            admin = await asyncpg.connect(args.pg_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    acknowledged: dict[int, tuple[str, str, str | None]] = {}
    for client in clients:
        acknowledged.update(client.periods)
    events = sum(client.starts + client.stops for client in clients)
    errors = [error for client in clients for error in client.errors]
    latencies = [value * 1000 for client in clients for value in client.latencies]
    starts = sum(client.starts for client in clients)
    lost = [pid for pid, period in acknowledged.items() if stored.get(pid) != period]
    extra = [pid for pid in stored if pid not in acknowledged]
    rate = events / elapsed
    floor = FLOOR_EVENTS_PER_SECOND.get(args.engine)
    print(
        f"ingest: {args.engine}, {workers} worker(s), {args.clients} concurrent clients x "
        f"{args.members_per_client} members each, {args.seconds:.0f} s, {os.cpu_count()} CPUs"
    )
    print(
        f"events  {events} acknowledged ({starts} starts, {events - starts} stops)  "
        f"{rate:.1f} events/s  p50 {percentile(latencies, 0.5):.1f} ms  "
        f"p99 {percentile(latencies, 0.99):.1f} ms  errors {len(errors)}"
    )
    print(
        f"stored  {len(stored)} periods for {starts} acknowledged starts: "
        f"{len(acknowledged) - len(lost)} exactly as acknowledged, {len(lost)} lost or changed, "
        f"{len(extra)} not acknowledged (duplicates)"
    )
    if floor is not None:
        print(f"floor   {floor} events/s: {'met' if rate >= floor else 'MISSED'}")
    for error in errors[:5]:
        print("  error:", error)
    failed = errors or lost or extra or len(stored) != starts
    return 1 if failed or (floor is not None and rate < floor) else 0


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32, help="concurrent client systems")
    parser.add_argument("--members-per-client", type=int, default=4)
    parser.add_argument("--workers", type=int, default=0, help="default: 2 on PostgreSQL, 1 SQLite")
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
