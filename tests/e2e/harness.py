"""A real roster server and a real Chromium for the browser tests and the screenshot script."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.servers import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
ADMIN_USERNAME = "e2e-admin"
ADMIN_PASSWORD = "e2e-password-7f3a"

# Flags Chromium needs in a container on a closed network: no sandbox (no user namespaces),
# no GPU, and none of the background calls home that would hang or slow it down.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium() -> str | None:
    """Debian's Chromium (or CHROMIUM_PATH), if installed."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


def e2e_ports() -> range:
    """The ports browser-test servers may use: E2E_PORTS (`low-high`, default 8200-8299)."""
    low, high = (int(part) for part in os.environ.get("E2E_PORTS", "8200-8299").split("-"))
    return range(low, high + 1)


@dataclass(frozen=True)
class LiveServer:
    """A running server: where it answers and the environment its CLI needs."""

    url: str
    env: dict[str, str]
    log: Path

    @property
    def admin_url(self) -> str:
        """The admin's single-page app, e.g. http://127.0.0.1:8200/admin."""
        return f"{self.url}/admin"

    def fetch(self) -> dict:
        """The current `GET /fetch/` document."""
        response = httpx.get(f"{self.url}/fetch/", timeout=10)
        response.raise_for_status()
        return response.json()

    def piccolo(self, *args: str) -> str:
        """Run a `piccolo` CLI command against the server's database; return its output."""
        return _run([str(BIN_DIR / "piccolo"), *args], self.env)


def _run(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def server_env(sqlite_path: Path) -> dict[str, str]:
    """Environment for a server and CLI on a fresh SQLite file, with a known admin login."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("LOGIN_RATE_STATE", None)  # this server's own login counts, beside its database
    env.update(
        SQLITE_PATH=str(sqlite_path),
        PICCOLO_CONF="piccolo_conf",
        ADMIN_USERNAME=ADMIN_USERNAME,
        ADMIN_PASSWORD=ADMIN_PASSWORD,
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def live_server(directory: Path | None = None) -> Iterator[LiveServer]:
    """Migrate a fresh SQLite database, seed the admin user, serve with uvicorn; stop on exit."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roster-e2e-")))
        env = server_env(directory / "e2e.sqlite")
        _run([str(BIN_DIR / "piccolo"), "migrations", "forwards", "all"], env)
        _run([str(BIN_DIR / "piccolo"), "home", "ensure_admin"], env)
        port = free_port(e2e_ports())
        log = directory / "server.log"
        log_file = stack.enter_context(log.open("w"))
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        stack.callback(_stop, process)
        server = LiveServer(url=f"http://127.0.0.1:{port}", env=env, log=log)
        _wait_until_up(server, process)
        yield server


def _wait_until_up(server: LiveServer, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {process.returncode}:\n{server.log.read_text()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/fetch/", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer within {timeout} s:\n{server.log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
