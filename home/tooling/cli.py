"""The command line as an operator runs it: `piccolo ...` and `python -m home.server ...`."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
BIN_DIR = Path(sys.executable).parent
# Files of commands that were given no database of their own, removed when the run ends.
_SCRATCH = Path(tempfile.mkdtemp(prefix="roster-cli-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
# The test run's own and the shell's settings, which a command must not inherit.
NOT_INHERITED = {
    "APP_ENV",
    "ENV",
    "ALLOWED_HOSTS",
    "DEBUG",
    "DATABASE_URL",
    "SQLITE_PATH",
    "LOGIN_RATE_STATE",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
    "FETCH_TOKEN",
    "PICCOLO_CONF",
}


def command_env(database: dict[str, str] | None = None, **settings: str) -> dict[str, str]:
    """A development environment for a command: the database's variables (`db.env`) and
    `settings` on top (an empty value unsets); by default a scratch SQLite file and
    login-attempt file, never the project's own."""
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    scratch = Path(tempfile.mkdtemp(dir=_SCRATCH))
    env.update(
        SQLITE_PATH=str(scratch / "roster.sqlite"),
        LOGIN_RATE_STATE=str(scratch / "login-attempts.sqlite"),
        PYTHONUNBUFFERED="1",
    )
    env.update(database or {})
    env.update(settings)
    return {name: value for name, value in env.items() if value != ""}


def run(
    args: list[str], env: dict[str, str], timeout: float = 120, input_text: str | None = None
) -> subprocess.CompletedProcess:
    """Run a command in the project directory (`input_text` on its standard input); its output
    is captured as text."""
    return subprocess.run(
        args,
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text if input_text is not None else "",
    )


def piccolo(
    *args: str, env: dict[str, str], timeout: float = 120, input_text: str | None = None
) -> subprocess.CompletedProcess:
    """`piccolo ARGS` (e.g. `home populate 10`) with this environment (and `input_text` on its
    standard input)."""
    return run([str(BIN_DIR / "piccolo"), *args], env, timeout, input_text)


def serve(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m home.server ARGS` (the production command) run to its end."""
    return run([sys.executable, "-m", "home.server", *args], env, timeout=60)


def check(result: subprocess.CompletedProcess) -> str:
    """The output of a command that must succeed; its output in the failure otherwise."""
    assert result.returncode == 0, f"{result.args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout
