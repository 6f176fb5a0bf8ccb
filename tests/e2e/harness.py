"""A real roster server and a real Chromium for the browser tests and the screenshot script."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from home.tooling.servers import Server

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


def server_env(sqlite_path: Path) -> dict[str, str]:
    """The database settings of a browser-test server: a fresh SQLite file, a known admin."""
    return {
        "SQLITE_PATH": str(sqlite_path),
        "ADMIN_USERNAME": ADMIN_USERNAME,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


@contextlib.contextmanager
def live_server(directory: Path | None = None) -> Iterator[Server]:
    """Migrate a fresh SQLite database, seed the admin user, serve it; stop on exit."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roster-e2e-")))
        server = Server(server_env(directory / "e2e.sqlite"), workers=1, ports=e2e_ports())
        server.piccolo("migrations", "forwards", "all")
        server.piccolo("home", "ensure_admin")
        yield stack.enter_context(server)
