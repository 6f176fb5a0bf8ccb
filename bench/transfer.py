"""Benchmark imports and the copy to PostgreSQL against populate, measured in the same run.

- import of a Toggl Track detailed export (PEOPLE people x 3 rows) against `populate PEOPLE`
  (3 periods each) on the same engine: the goal is at most 2x;
- `copy_to` of that roster from SQLite into a new PostgreSQL database.

Each is the whole command line as an operator runs it (`piccolo home ...`), in a fresh
database per round; peak RSS is the command's own. Run from the project root:
`.venv/bin/python -m bench.transfer` (also the last part of `make bench`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from home.tooling.cli import PROJECT_DIR

BIN = Path(sys.executable).parent
TOGGL_COLUMNS = [
    "User", "Email", "Client", "Project", "Task", "Description", "Billable", "Start date",
    "Start time", "End date", "End time", "Duration", "Tags", "Amount ()",
]  # fmt: skip
PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def toggl_export(path: Path, people: int, seed: int = 1) -> int:
    """A Toggl detailed export: `people` people, 3 entries each on weekdays of March 2026,
    in their order of time (as Toggl writes it); its rows."""
    rng = random.Random(seed)
    rows = []
    for person in range(people):
        name = f"Person {person:06d}"
        for day in (2, 3, 4):
            hour = 7 + rng.randrange(4)
            minute = rng.randrange(60)
            length = 15 + rng.randrange(480)
            end = hour * 60 + minute + length
            rows.append(
                (
                    f"2026-03-{day:02d}", f"{hour:02d}:{minute:02d}:00", name,
                    f"2026-03-{day:02d}", f"{end // 60:02d}:{end % 60:02d}:00",
                )
            )  # fmt: skip
    rows.sort()
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(TOGGL_COLUMNS)
        for start_date, start_time, name, end_date, end_time in rows:
            writer.writerow(
                [
                    name, f"{name.replace(' ', '.').lower()}@example.com", "Acme", "Roster", "",
                    "Work", "No", start_date, start_time, end_date, end_time, "", "", "",
                ]
            )  # fmt: skip
    return len(rows)


def command(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run `piccolo ARGS`: wall seconds, peak RSS (MB) of the command, its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "piccolo"), *args],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out = (process.stdout.read() if process.stdout else "") + (
        process.stderr.read() if process.stderr else ""
    )
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"piccolo {' '.join(args)} failed:\n{out}")
    return seconds, usage.ru_maxrss / 1024, out


def sqlite_env(path: Path) -> dict[str, str]:
    env = dict(os.environ, SQLITE_PATH=str(path), PICCOLO_CONF="piccolo_conf")
    env.pop("DATABASE_URL", None)
    return env


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class PostgresDatabase:
    """A new PostgreSQL database for one round, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"roster_bench_{uuid.uuid4().hex[:10]}"
        self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name

    def __enter__(self) -> PostgresDatabase:
        asyncio.run(_admin(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, DATABASE_URL=self.url, PICCOLO_CONF="piccolo_conf")


def postgres_available() -> bool:
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError):
        return False
    return True


def migrated(env: dict[str, str]) -> dict[str, str]:
    command(["migrations", "forwards", "all"], env)
    return env


def run(people: int, rounds: int, engines: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="roster-bench-transfer-") as scratch:
        directory = Path(scratch)
        export = directory / "toggl.csv"
        rows = toggl_export(export, people)
        print(
            f"\n## import of a Toggl export ({rows:,} rows, {people:,} people, "
            f"{export.stat().st_size / 1e6:.1f} MB) against populate {people:,} x 3, "
            f"same engine, whole CLI, median of {rounds}"
        )
        for engine in engines:
            imports, populates, import_rss, populate_rss = [], [], [], []
            for number in range(rounds):
                for kind, times, rss in (
                    ("populate", populates, populate_rss),
                    ("import", imports, import_rss),
                ):
                    args = (
                        ["home", "populate", str(people), "--seed=1"]
                        if kind == "populate"
                        else ["home", "import", str(export), "--tz=Europe/Berlin"]
                    )
                    if engine == "sqlite":
                        env = migrated(sqlite_env(directory / f"{kind}-{number}.sqlite"))
                        seconds, peak, _ = command(args, env)
                    else:
                        with PostgresDatabase() as database:
                            seconds, peak, _ = command(args, migrated(database.env))
                    times.append(seconds)
                    rss.append(peak)
            ratio = statistics.median(imports) / statistics.median(populates)
            print(
                f"  {engine:10}  import {statistics.median(imports):6.2f} s "
                f"(peak RSS {max(import_rss):.0f} MB)   populate "
                f"{statistics.median(populates):6.2f} s (peak RSS {max(populate_rss):.0f} MB)"
                f"   ratio {ratio:.2f}x (goal <= 2x)"
            )
        if "postgresql" in engines:
            source = migrated(sqlite_env(directory / "copy-source.sqlite"))
            command(["home", "populate", str(people), "--seed=1"], source)
            copies, peaks = [], []
            for _ in range(rounds):
                with PostgresDatabase() as database:
                    migrated(database.env)
                    seconds, peak, out = command(["home", "copy_to", database.url], source)
                    assert "Copied and verified" in out, out
                copies.append(seconds)
                peaks.append(peak)
            moved = people * 4
            print(
                f"\n## copy_to PostgreSQL of {people:,} members x 3 periods from SQLite "
                f"(COPY, verified), whole CLI, median of {rounds}: "
                f"{statistics.median(copies):.2f} s, {moved / statistics.median(copies):,.0f} "
                f"rows/s, peak RSS {max(peaks):.0f} MB"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--engine", choices=["sqlite", "postgresql", "all"], default="all",
        help="all measures PostgreSQL too when a server answers at BENCH_POSTGRES_URL",
    )  # fmt: skip
    args = parser.parse_args(argv)
    engines = ["sqlite", "postgresql"] if args.engine == "all" else [args.engine]
    if "postgresql" in engines and not postgres_available():
        if args.engine == "postgresql":
            raise SystemExit(f"no PostgreSQL answers at {PG_ADMIN_URL} (BENCH_POSTGRES_URL)")
        print(f"# no PostgreSQL at {PG_ADMIN_URL}: SQLite only")
        engines = ["sqlite"]
    run(args.people, args.rounds, engines)


if __name__ == "__main__":
    main()
