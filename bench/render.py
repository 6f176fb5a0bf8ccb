"""Benchmark the /fetch/ render in process: the `fullthrottle` style against the seed style,
and each against the engine's plain read of the same rows, on SQLite and PostgreSQL.

The roster is `populate MEMBERS` (3 periods each), made with the command line; each figure is
the median of ROUNDS renders of the whole document (the body is built and dropped; no HTTP).
Run from the project root: `.venv/bin/python -m bench.render --engine=all`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.transfer import PostgresDatabase, command, migrated, postgres_available, sqlite_env
from home.api.query import parse_fetch_query
from home.api.render import render
from home.settings import load_settings
from home.storage import Storage
from home.storage.roster_query import roster_statement
from home.tooling.cli import PROJECT_DIR


def measure(env: dict[str, str], rounds: int) -> dict[str, float]:
    """Median seconds of the plain read and of each style's render, measured in a process of
    its own that the environment `env` points at the database."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.render", "--child", f"--rounds={rounds}"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the render measurement failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _measure(rounds: int) -> dict[str, float]:
    storage = Storage(load_settings())
    adapter = storage.adapter()
    await adapter.open()
    figures: dict[str, list[float]] = {"read": [], "seed": [], "fullthrottle": []}
    try:
        for _ in range(rounds):
            for style in ("seed", "fullthrottle"):
                query = parse_fetch_query(style=style)
                sql, params = roster_statement(adapter.dialect, query)
                started = time.perf_counter()
                async with adapter.snapshot(sql, params) as snapshot:
                    size = 0
                    async for chunk in render(snapshot, query, adapter.times):
                        size += len(chunk)
                figures[style].append(time.perf_counter() - started)
            # The same rows, read whole and nothing else: the engine's own time.
            started = time.perf_counter()
            async with adapter.snapshot(sql, params) as snapshot:
                while len(await snapshot.fetch(5_000)) == 5_000:
                    pass
            figures["read"].append(time.perf_counter() - started)
    finally:
        await storage.close()
    return {name: statistics.median(values) for name, values in figures.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(asyncio.run(_measure(args.rounds))))
        return
    engines = ["sqlite", "postgresql"] if args.engine == "all" else [args.engine]
    if "postgresql" in engines and not postgres_available():
        if args.engine == "postgresql":
            raise SystemExit("no PostgreSQL answers (BENCH_POSTGRES_URL)")
        engines = ["sqlite"]
    print(
        f"\n## /fetch/ render in process, {args.members:,} members x 3 periods, median of "
        f"{args.rounds}; {os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory(prefix="roster-bench-render-") as scratch:
        for engine in engines:
            if engine == "sqlite":
                env = migrated(sqlite_env(Path(scratch) / "render.sqlite"))
                command(["home", "populate", str(args.members), "--seed=1"], env)
                figures = measure(env, args.rounds)
            else:
                with PostgresDatabase() as database:
                    env = migrated(database.env)
                    command(["home", "populate", str(args.members), "--seed=1"], env)
                    figures = measure(env, args.rounds)
            read, seed, full = figures["read"], figures["seed"], figures["fullthrottle"]
            print(
                f"  {engine:10}  plain read {read * 1000:6.0f} ms   seed {seed * 1000:6.0f} ms "
                f"({seed / read:.2f}x the read)   fullthrottle {full * 1000:6.0f} ms "
                f"({full / read:.2f}x the read, {full / seed:.2f}x seed; goal <= 1.2x)"
            )


if __name__ == "__main__":
    main()
