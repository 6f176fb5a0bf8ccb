"""Benchmark GET /fetch/ on SQLite with one uvicorn worker, against a stored-bytes baseline.

Run from the project root: `make bench` (or `.venv/bin/python -m bench.run --help`).
Needs `wrk` (Debian/Ubuntu: `sudo apt-get install -y wrk`; macOS: `brew install wrk`).
Everything happens in a temporary directory; no project database is touched.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import transfer
from home.tooling.servers import free_port

PROJECT = Path(__file__).resolve().parent.parent

BIN = Path(sys.executable).parent


def run_wrk(url: str, seconds: int, connections: int, headers: list[str]) -> dict[str, float]:
    """rps, p50 and p99 (ms) and bytes per response from one wrk run."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    for header in headers:
        command += ["-H", header]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    latency = {
        percent: _ms(value, unit)
        for percent, value, unit in re.findall(
            r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M
        )
    }
    done = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", output)
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[done.group(3)]
    errors = re.findall(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": latency["50"],
        "p99": latency["99"],
        "bytes": float(done.group(2)) * scale / max(int(done.group(1)), 1),
        "errors": "; ".join(errors),
    }


def run_pair(
    base_url: str, case_url: str, seconds: int, connections: int, headers: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Baseline and case alternated (base, case, base, case), each half the time, averaged,
    so load from other processes on a shared machine hits both alike."""
    runs: dict[str, list[dict[str, float]]] = {"base": [], "case": []}
    half = max(1, seconds // 2)
    for _ in range(2):
        runs["base"].append(run_wrk(base_url, half, connections, headers))
        runs["case"].append(run_wrk(case_url, half, connections, headers))
    return _mean(runs["base"]), _mean(runs["case"])


def _mean(results: list[dict[str, float]]) -> dict[str, float]:
    merged: dict[str, float] = {
        key: statistics.mean(r[key] for r in results) for key in ("rps", "p50", "p99", "bytes")
    }
    merged["errors"] = "; ".join(r["errors"] for r in results if r["errors"])  # type: ignore[assignment]
    return merged


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# The same uvicorn flags for the project and the bare baseline: one worker, no uvicorn access
# log (the project writes its own), warnings only.
UVICORN = ["--log-level", "warning", "--no-access-log", "--workers", "1"]


class Server:
    """uvicorn serving the project (`app:create_app`) or the bare baseline (`bench.bare:app`)."""

    def __init__(self, env: dict[str, str], port: int, log: Path, target: str = "project"):
        self.port = port
        self.log = log.open("wb")
        app = ["app:create_app", "--factory"] if target == "project" else ["bench.bare:app"]
        self.process = subprocess.Popen(
            [str(BIN / "python"), "-m", "uvicorn", *app, "--port", str(port), *UVICORN],
            cwd=PROJECT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"uvicorn did not start; see {log}") from None
                time.sleep(0.1)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[float, float, bytes]:
    """(seconds to first byte, seconds to last byte, body) for one request on a new connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    first = response.read(1)
    first_byte = time.perf_counter() - started
    body = first + response.read()
    total = time.perf_counter() - started
    assert response.status == 200, (response.status, body[:200])
    connection.close()
    return first_byte, total, body


def change_data(path: Path, number: int) -> None:
    """Commit one change from another connection, as an editor would."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    connection.execute(
        "UPDATE member SET real_name = ? WHERE id = (SELECT id FROM member LIMIT 1)",
        (f"BENCH{number:06d}",),
    )
    connection.close()


def prepare(directory: Path, members: int) -> tuple[dict[str, str], Path, float, str]:
    """A migrated, populated SQLite file; returns env, path, populate seconds and its output."""
    path = directory / f"roster-{members}.sqlite"
    env = dict(os.environ, SQLITE_PATH=str(path), PICCOLO_CONF="piccolo_conf")
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [str(BIN / "piccolo"), "migrations", "forwards", "all"],
        cwd=PROJECT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "piccolo"), "home", "populate", str(members), "--seed=1"],
        cwd=PROJECT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return env, path, time.perf_counter() - started, done.stdout.strip()


def version_check_cost(env: dict[str, str]) -> float:
    """Median microseconds of the per-request freshness check, measured in a fresh process."""
    code = (
        "import asyncio, statistics, time\n"
        "from home.settings import get_settings\n"
        "from home.storage import Storage\n"
        "async def main():\n"
        "    adapter = Storage(get_settings()).adapter()\n"
        "    samples = []\n"
        "    for _ in range(20000):\n"
        "        t = time.perf_counter(); await adapter.current_version()\n"
        "        samples.append(time.perf_counter() - t)\n"
        "    print(statistics.median(samples) * 1e6)\n"
        "asyncio.run(main())\n"
    )
    output = subprocess.run(
        [str(BIN / "python"), "-c", code], cwd=PROJECT, env=env, check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    return float(output.stdout.strip().splitlines()[-1])


def row(case: str, result: dict[str, float], baseline: dict[str, float] | None) -> str:
    ratio = f"{result['rps'] / baseline['rps']:.2f}" if baseline else "-"
    extra = f"  {result['errors']}" if result.get("errors") else ""
    return (
        f"{case:<34} {result['rps']:>9.1f} {result['p50']:>9.2f} {result['p99']:>9.2f} "
        f"{result['bytes']:>12,.0f} {ratio:>8}{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="wrk run length per case (10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    parser.add_argument("--uncached", type=int, default=200, help="uncached requests (200)")
    parser.add_argument("--large", type=int, default=100_000, help="members in the large case")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", 8180)))
    parser.add_argument(
        "--no-transfer", action="store_true", help="skip the import and copy_to lines"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench needs the wrk HTTP load generator: sudo apt-get install -y wrk "
            "(Debian/Ubuntu) or brew install wrk (macOS)"
        )
    header = (
        f"{'case':<34} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'bytes/resp':>12} {'x base':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="roster-bench-") as temp:
        directory = Path(temp)
        print(f"# /fetch/ benchmark: SQLite, 1 uvicorn worker, wrk -t2 -c{args.connections}; "
              f"baseline: a bare Litestar app (bench/bare.py) with the same bytes and uvicorn "
              f"flags; "
              f"each case alternated with its baseline (2 x {max(1, args.seconds // 2)} s each); "
              f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.2f}")  # fmt: skip

        # ---- 1,000 members x 3 periods
        env, path, _, _ = prepare(directory, 1_000)
        env["BENCH_STORED_DIR"] = str(directory)
        server = Server(
            env, free_port(range(args.port, args.port + 50)), directory / "uvicorn-1k.log"
        )
        bare: Server | None = None
        try:
            _, _, body = get(server.port, "/fetch/")
            (directory / "body.json").write_bytes(body)
            _, _, zipped = get(server.port, "/fetch/", {"Accept-Encoding": "gzip"})
            assert gzip.decompress(zipped) == body
            (directory / "body.json.gz").write_bytes(zipped)
            bare = Server(env, free_port(range(args.port + 50, args.port + 100)),
                          directory / "bare-1k.log", target="bare")  # fmt: skip
            print(f"\n## 1,000 members x 3 periods (body {len(body):,} bytes)")
            print(header)
            base, cached = run_pair(
                bare.url("/fetch/"), server.url("/fetch/"), args.seconds, args.connections, []
            )
            print(row("baseline: stored bytes", base, None))
            print(row("cached /fetch/", cached, base))
            gz = ["Accept-Encoding: gzip"]
            base_gz, cached_gz = run_pair(
                bare.url("/fetch/gzip"), server.url("/fetch/"), args.seconds, args.connections, gz
            )
            print(row("baseline: stored gzip bytes", base_gz, None))
            print(row("cached /fetch/ gzip", cached_gz, base_gz))
            revalidate = run_wrk(
                server.url("/fetch/"), args.seconds, args.connections,
                [f"If-None-Match: {_etag(server.port)}"],
            )  # fmt: skip
            print(row("If-None-Match -> 304 (no body)", revalidate, base))
            samples = []
            size = 0
            for number in range(args.uncached):
                change_data(path, number)
                _, total, body = get(server.port, "/fetch/")
                samples.append(total * 1000)
                size = len(body)
                assert f"BENCH{number:06d}".encode() in body, "stale body after a change"
            uncached = {
                "rps": 1000 / statistics.mean(samples),
                "p50": statistics.median(samples),
                "p99": statistics.quantiles(samples, n=100)[98],
                "bytes": size,
            }
            print(row("uncached (change before each)", uncached, base))
            print(f"  uncached: {args.uncached} sequential requests, each after a committed "
                  f"UPDATE from another connection; every body checked fresh")  # fmt: skip
        finally:
            server.stop()
            if bare is not None:
                bare.stop()
        check_us = version_check_cost(env)
        print(f"  per-request freshness check (PRAGMA data_version): {check_us:.1f} us median")

        # ---- large roster
        env, path, populate_seconds, populate_output = prepare(directory, args.large)
        env["BENCH_STORED_DIR"] = str(directory)
        server = Server(
            env, free_port(range(args.port, args.port + 50)), directory / "uvicorn-large.log"
        )
        bare = None
        try:
            rss_start = server.peak_rss_mb()
            print(f"\n## {args.large:,} members x 3 periods")
            firsts, totals = [], []
            for number in range(3):
                change_data(path, 900_000 + number)
                first, total, body = get(server.port, "/fetch/")
                firsts.append(first * 1000)
                totals.append(total * 1000)
            rss_uncached = server.peak_rss_mb()
            print(f"  uncached (streamed): first byte {statistics.median(firsts):.0f} ms, "
                  f"whole body {statistics.median(totals):.0f} ms, {len(body):,} bytes "
                  f"(median of 3)")  # fmt: skip
            _, _, zipped = get(server.port, "/fetch/", {"Accept-Encoding": "gzip"})
            (directory / "body.json").write_bytes(body)
            (directory / "body.json.gz").write_bytes(zipped)
            bare = Server(env, free_port(range(args.port + 50, args.port + 100)),
                          directory / "bare-large.log", target="bare")  # fmt: skip
            print(header)
            large_conn = min(args.connections, 4)
            base, cached = run_pair(
                bare.url("/fetch/"), server.url("/fetch/"), args.seconds, large_conn, []
            )
            print(row("baseline: stored bytes", base, None))
            print(row("cached /fetch/", cached, base))
            gz = ["Accept-Encoding: gzip"]
            base_gz, cached_gz = run_pair(
                bare.url("/fetch/gzip"), server.url("/fetch/"), args.seconds, large_conn, gz
            )
            print(row("baseline: stored gzip bytes", base_gz, None))
            print(row("cached /fetch/ gzip", cached_gz, base_gz))
            print(f"  server peak RSS: {rss_start:.0f} MB at start, {rss_uncached:.0f} MB after "
                  f"uncached streams, {server.peak_rss_mb():.0f} MB after all cases")  # fmt: skip
            report = "/api/reports/activity?group=day"
            uncached = []
            for number in range(3):
                change_data(path, 950_000 + number)
                _, total, body = get(server.port, report)
                uncached.append(total * 1000)
            cached = []
            for _ in range(50):
                _, total, _ = get(server.port, report)
                cached.append(total * 1000)
            print(f"  activity report by day over 30 days ({len(body):,} bytes): uncached "
                  f"{statistics.median(uncached):.0f} ms (median of 3, a change before each), "
                  f"cached {statistics.median(cached):.1f} ms (median of 50); server peak RSS "
                  f"{server.peak_rss_mb():.0f} MB")  # fmt: skip
        finally:
            server.stop()
            if bare is not None:
                bare.stop()
        print(
            f"\n## populate {args.large:,} members x 3 periods (SQLite): "
            f"{populate_seconds:.2f} s wall for the whole CLI run; it said: {populate_output}"
        )
        if not args.no_transfer:
            transfer.main(["--people", str(args.large)])
        print(f"# load average after: {os.getloadavg()[0]:.2f}")


def _etag(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/fetch/")
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.getheader("ETag")


if __name__ == "__main__":
    main()
