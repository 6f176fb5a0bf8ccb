"""The production command (`python -m home.server`) in a subprocess: for the tests that need
several workers, raw sockets or a process to stop, and for the benchmarks."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from home.tooling import cli
from home.tooling.cli import PROJECT_DIR, command_env

# Ports the suite may listen on; override with TEST_PORTS=low-high.
_LOW, _HIGH = (int(n) for n in os.environ.get("TEST_PORTS", "8300-8399").split("-"))
PORTS = range(_LOW, _HIGH + 1)
# Server logs of this test run, removed when it ends.
_LOGS = tempfile.mkdtemp(prefix="roster-servers-")
atexit.register(shutil.rmtree, _LOGS, ignore_errors=True)


# Several suites may run at once on one machine: each looks for ports in its own order.
_order = random.Random()


def free_port(ports: range = PORTS) -> int:
    """A port in `ports` that nothing listens on, tried in random order (another suite on the
    machine would otherwise probe the same lowest port at the same moment)."""
    for port in _order.sample(ports, len(ports)):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1}")


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port that refuses connections for as long as the block runs: bound, never listening,
    so no other process can start listening on it meanwhile."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


class PortTaken(RuntimeError):
    """Another process listens on the port a server was to use."""


class Server:
    """`python -m home.server` (the production command) in a subprocess, stopped on exit.

    `env` is the database's variables (`db.env`); on SQLite each server counts its own admin
    login attempts (all its workers share the file) unless `settings` say otherwise. `cwd`
    runs it from another directory, as another host would (the project found on PYTHONPATH).
    """

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 2,
        ports: range | None = None,
        cwd: Path | None = None,
        **settings: str,
    ) -> None:
        self.ports = ports or PORTS
        self.port = free_port(self.ports)
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.cwd = cwd or PROJECT_DIR
        # Idle keep-alive connections stay open for the whole test, so a client pinned to a
        # worker (`clients_per_worker`) keeps it however slowly a loaded machine runs the test.
        settings = {"KEEP_ALIVE_TIMEOUT": "600", **settings}
        self.env = command_env(
            env, PORT=str(self.port), HOST="127.0.0.1", WEB_CONCURRENCY=str(workers), **settings
        )
        if cwd is not None:
            paths = [str(PROJECT_DIR), self.env.get("PYTHONPATH", "")]
            self.env["PYTHONPATH"] = os.pathsep.join(path for path in paths if path)
        directory = Path(tempfile.mkdtemp(dir=_LOGS))
        self.stdout_path = directory / "stdout.log"
        self.stderr_path = directory / "stderr.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> Server:
        """Start and wait until every worker has started and /health/live answers; on another
        port if another process took this one meanwhile."""
        for _ in range(5):
            try:
                return self._start(timeout)
            except PortTaken:
                self._move(free_port(self.ports))
        return self._start(timeout)

    def _move(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env["PORT"] = str(port)

    def _start(self, timeout: float) -> Server:
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "home.server"],
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "address already in use" in self.stderr():
                    raise PortTaken(self.port)
                raise RuntimeError(f"server exited {self.process.returncode}:\n{self.stderr()}")
            try:
                live = httpx.get(self.url + "/health/live", timeout=1).status_code == 200
            except httpx.HTTPError:
                live = False
            if live and self.stderr().count("Application startup complete") >= self.workers:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.stderr()}")

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (graceful shutdown) and wait; SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """SIGKILL the server and every worker, as a crash would: nothing gets to clean up."""
        if self.process is None or self.process.poll() is not None:
            return
        for pid in [*self.worker_pids(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait()

    @property
    def admin_url(self) -> str:
        """The admin's single-page app, e.g. http://127.0.0.1:8300/admin."""
        return f"{self.url}/admin"

    def fetch(self) -> dict:
        """The current `GET /fetch/` document."""
        response = httpx.get(f"{self.url}/fetch/", timeout=60)
        response.raise_for_status()
        return response.json()

    def piccolo(self, *args: str, input_text: str | None = None) -> str:
        """Run `piccolo ARGS` against this server's database; its output (it must succeed)."""
        return cli.check(cli.piccolo(*args, env=self.env, input_text=input_text))

    def worker_pids(self) -> list[int]:
        """The worker processes started so far, oldest first."""
        return [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", self.stderr())]

    def stdout(self) -> str:
        """What the server wrote to stdout (the access log)."""
        return self.stdout_path.read_text(errors="replace")

    def access_log(self) -> list[dict[str, Any]]:
        """The access-log lines written so far, parsed (a line still being written is left out)."""
        text = self.stdout()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.startswith("{")]

    async def wait_for_log(
        self, done: Callable[[list[dict[str, Any]]], bool], within: float = 30
    ) -> list[dict[str, Any]]:
        """The access log once `done(lines)` holds: workers write their lines after answering,
        so a test waits for what it needs to see, up to a deadline, never a fixed time."""
        deadline = time.monotonic() + within
        while not done(lines := self.access_log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"the access log never got there within {within} s: {lines}")
            await asyncio.sleep(0.02)
        return lines

    async def pid_serving(self, response: httpx.Response) -> int:
        """The worker that answered `response`, found by its request id in the access log."""
        request_id = response.headers["x-request-id"]
        lines = await self.wait_for_log(
            lambda lines: any(line["request_id"] == request_id for line in lines)
        )
        return next(line["pid"] for line in lines if line["request_id"] == request_id)

    async def clients_per_worker(
        self, within: float = 60, **options: Any
    ) -> dict[int, httpx.AsyncClient]:
        """One HTTP client per worker, by pid, each holding one keep-alive connection that
        worker accepted (`options` go to every client; close them with `aclose`).

        Which worker accepts a new connection is the kernel's choice, and one may take every
        connection of a burst: new connections are opened until each worker has one.
        """
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        options.setdefault("timeout", 60)  # a loaded machine answers slowly, not never
        found: dict[int, httpx.AsyncClient] = {}
        deadline = time.monotonic() + within
        while len(found) < self.workers:
            candidates = [
                httpx.AsyncClient(base_url=self.url, limits=limits, **options)
                for _ in range(self.workers * 2)
            ]
            try:
                answers = await asyncio.gather(
                    *(client.get("/health/live") for client in candidates)
                )
                for client, answer in zip(candidates, answers, strict=True):
                    pid = await self.pid_serving(answer)
                    found.setdefault(pid, client)
                if len(found) < self.workers and time.monotonic() > deadline:
                    raise AssertionError(f"only workers {sorted(found)} took connections")
            except BaseException:
                for client in {*candidates, *found.values()}:
                    await client.aclose()
                raise
            for client in candidates:
                if client not in found.values():
                    await client.aclose()
        return found

    def stderr(self) -> str:
        """What the server wrote to stderr (start-up and error logs)."""
        return self.stderr_path.read_text(errors="replace")

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def raw_request(port: int, data: bytes, timeout: float = 10) -> tuple[int, bytes]:
    """Send raw bytes; return the status code and the response (read while still sending)."""

    def send_all(connection: socket.socket) -> None:
        # The server may answer and close before reading everything (e.g. a 413).
        with contextlib.suppress(OSError):
            connection.sendall(data)

    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        sender = threading.Thread(target=send_all, args=(connection,), daemon=True)
        sender.start()
        with contextlib.suppress(ConnectionResetError):
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        sender.join(timeout)
    response = b"".join(chunks)
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else 0
    return status, response
