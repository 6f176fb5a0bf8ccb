"""Change feed and webhook benchmark: while client systems start and stop sessions (the ingest
benchmark's load) against the production command, a webhook endpoint receives every change.

For each engine (PostgreSQL with 2 workers, SQLite with 1), it alternates rounds of ingest
without any endpoint and with one, on the same server, and prints:

- ingest events per second without and with the endpoint, and their ratio (goal: >= 0.8);
- the time from a write's answer to its webhook's arrival, p50 and p99 (goal: p99 < 1 s);
- deliveries lost or sent twice (goal: none; nothing fails here, so nothing is retried);
- how fast a follower reads the whole feed with `GET /api/changes` (changes per second).

The receiver runs in a process of its own (`python -m home.tooling.receiver --record=...`),
so the load generator's work does not delay the arrival it times.

    .venv/bin/python -m bench.changes                       # both engines
    .venv/bin/python -m bench.changes --engine sqlite --rounds 3 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from bench.ingest import Client, run_client
from bench.load import percentile
from home.tooling import cli
from home.tooling.servers import Server, free_port

GOAL_RATIO = 0.8
GOAL_P99_SECONDS = 1.0


async def ingest(server: Server, key: str, members: list[str], seconds: float, clients: int):
    """Run the ingest load for `seconds`; the clients' records and the elapsed time."""
    per_client = len(members) // clients
    made = [Client() for _ in range(clients)]
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        *(
            run_client(
                server.url,
                key,
                members[n * per_client : (n + 1) * per_client],
                deadline,
                client,
                stop_at_end=True,
            )
            for n, client in enumerate(made)
        )
    )
    return made, time.monotonic() - started


def arrivals(record: Path) -> list[tuple[str, int, str, float]]:
    """The receiver's record: (type, row id, webhook-id, arrival) per delivery."""
    out = []
    for line in record.read_text().splitlines():
        kind, row, change_id, when = line.split("\t")
        out.append((kind, int(row) if row.isdigit() else -1, change_id, float(when)))
    return out


async def wait_for_arrivals(
    record: Path, expected: set[tuple[str, int]], within: float = 60
) -> list[tuple[str, int, str, float]]:
    """The receiver's record once every expected (type, row id) has arrived, or after `within`
    seconds."""
    deadline = time.monotonic() + within
    while True:
        made = await asyncio.to_thread(arrivals, record)
        if expected <= {(kind, row) for kind, row, _, _ in made} or time.monotonic() > deadline:
            return made
        await asyncio.sleep(0.1)


async def read_whole_feed(url: str, key: str) -> tuple[int, float]:
    """Changes read following `next` from the start with limit=1000, and the seconds taken."""
    headers = {"authorization": f"Bearer {key}"}
    count, cursor = 0, None
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        while True:
            params = {"limit": "1000", **({"after": cursor} if cursor else {})}
            body = (await http.get("/api/changes", params=params)).json()
            count += len(body["changes"])
            if not body["changes"]:
                return count, time.perf_counter() - started
            cursor = body["next"]


async def run_engine(engine: str, args: argparse.Namespace) -> dict[str, float]:
    """One engine's rounds on a throw-away database; its figures."""
    workers = 2 if engine == "postgresql" else 1
    scratch = Path(tempfile.mkdtemp(prefix="roster-changes-"))
    name = None
    if engine == "postgresql":
        name = f"roster_changes_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = await asyncpg.connect(args.pg_url)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        env = {"DATABASE_URL": args.pg_url.rsplit("/", 1)[0] + "/" + name}
    else:
        env = {"SQLITE_PATH": str(scratch / "changes.sqlite")}
    server = Server(env, workers=workers, API_RATE_LIMIT="1000000", WEBHOOK_ALLOW_PRIVATE="true")
    record = scratch / "arrivals.tsv"
    record.touch()
    port = free_port()
    receiver = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "home.tooling.receiver", f"--port={port}", f"--record={record}"),
        cwd=cli.PROJECT_DIR,
        stdout=asyncio.subprocess.DEVNULL,
    )
    rates: dict[str, list[float]] = {"without": [], "with": []}
    latencies: list[float] = []
    lost = duplicated = 0
    try:
        cli.check(cli.piccolo("migrations", "forwards", "all", env=server.env))
        key = cli.check(
            cli.piccolo(
                "home",
                "new_api_key",
                "changes-bench",
                "--scope=read,sessions:write,members:write,admin",
                env=server.env,
            )
        )
        key = key.strip().splitlines()[-1]
        headers = {"authorization": f"Bearer {key}"}
        with server:
            async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
                members = []
                for number in range(args.clients * args.members_per_client):
                    answer = await http.post(
                        "/api/members", json={"real_name": f"CHANGES{number:05d}", "tz": "UTC"}
                    )
                    answer.raise_for_status()
                    members.append(answer.json()["id"])
                for _ in range(args.rounds):
                    clients, elapsed = await ingest(
                        server, key, members, args.seconds, args.clients
                    )
                    rates["without"].append(sum(c.starts + c.stops for c in clients) / elapsed)
                    created = await http.post(
                        "/api/webhooks",
                        json={"url": f"http://127.0.0.1:{port}/hooks", "types": ["*"]},
                    )
                    created.raise_for_status()
                    endpoint = created.json()["id"]
                    before = len(record.read_text().splitlines())
                    clients, elapsed = await ingest(
                        server, key, members, args.seconds, args.clients
                    )
                    rates["with"].append(sum(c.starts + c.stops for c in clients) / elapsed)
                    answered = [event for client in clients for event in client.answered]
                    expected = {(kind, row) for kind, row, _ in answered}
                    made = (await wait_for_arrivals(record, expected))[before:]
                    (await http.delete(f"/api/webhooks/{endpoint}")).raise_for_status()
                    arrived: dict[tuple[str, int], list[float]] = {}
                    for kind, row, _change, when in made:
                        arrived.setdefault((kind, row), []).append(when)
                    for kind, row, when in answered:
                        times = arrived.get((kind, row))
                        if not times:
                            lost += 1
                            continue
                        latencies.append(times[0] - when)
                        duplicated += len(times) - 1
                read, seconds = await read_whole_feed(server.url, key)
    finally:
        server.stop()
        receiver.terminate()
        await receiver.wait()
        if name is not None:
            admin = await asyncpg.connect(args.pg_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    without = statistics.median(rates["without"])
    with_endpoint = statistics.median(rates["with"])
    return {
        "workers": workers,
        "without": without,
        "with": with_endpoint,
        "ratio": with_endpoint / without,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "deliveries": len(latencies),
        "lost": lost,
        "duplicated": duplicated,
        "feed_rate": read / seconds,
        "feed_changes": read,
    }


async def main(args: argparse.Namespace) -> int:
    """Every engine asked for, side by side; exit 1 when a goal is missed."""
    engines = ["postgresql", "sqlite"] if args.engine == "all" else [args.engine]
    results = {engine: await run_engine(engine, args) for engine in engines}
    print(
        f"changes: {args.rounds} rounds of {args.seconds:.0f} s ingest without, then with, one "
        f"webhook endpoint; {args.clients} clients; {os.cpu_count()} CPUs"
    )
    header = f"{'':34}" + "".join(f"{engine:>16}" for engine in results)
    print(header)

    def row(label: str, text) -> None:
        print(f"{label:34}" + "".join(f"{text(r):>16}" for r in results.values()))

    row("workers", lambda r: f"{r['workers']}")
    row("ingest events/s, no endpoint", lambda r: f"{r['without']:.0f}")
    row("ingest events/s, one endpoint", lambda r: f"{r['with']:.0f}")
    row(f"  ratio (goal >= {GOAL_RATIO})", lambda r: f"{r['ratio']:.2f}")
    row("answer -> webhook p50", lambda r: f"{r['p50'] * 1000:.0f} ms")
    row(
        f"answer -> webhook p99 (goal < {GOAL_P99_SECONDS:g} s)",
        lambda r: f"{r['p99'] * 1000:.0f} ms",
    )
    row("deliveries timed", lambda r: f"{r['deliveries']}")
    row("lost / sent twice", lambda r: f"{r['lost']} / {r['duplicated']}")
    row("feed read, changes/s (limit=1000)", lambda r: f"{r['feed_rate']:.0f}")
    failed = any(
        r["ratio"] < GOAL_RATIO or r["p99"] >= GOAL_P99_SECONDS or r["lost"] or r["duplicated"]
        for r in results.values()
    )
    print("goals:", "MISSED" if failed else "met")
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["postgresql", "sqlite", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--members-per-client", type=int, default=4)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
