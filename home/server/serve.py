"""The production server: uvicorn with several workers, proxy headers, JSON access logs.

`python -m home.server --check` only validates the settings; without it the server starts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from home.server.relay import RelayProcess
from home.settings import Settings

LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(name)s: %(message)s",
            "use_colors": False,
        },
    },
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "roster": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        # Replaced by the edge's access line (home/web/edge.py), which has the real admin paths.
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}


def main(argv: list[str]) -> int:
    """Validate the settings, then (unless --check) serve `app:create_app` with uvicorn."""
    from home.settings import SettingsError, get_settings
    from home.storage import engine_name
    from home.storage.login_attempts import LoginLimitError, login_throttle

    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"roster: {error}", file=sys.stderr)
        return 2
    engine = engine_name(settings)
    mode = "production" if settings.production else "development"
    print(
        f"roster: settings OK ({mode}, {engine}, {settings.workers} workers, "
        f"{settings.host}:{settings.port})",
        file=sys.stderr,
    )
    try:
        login_throttle(settings).close()
    except LoginLimitError as error:
        print(f"roster: {error}", file=sys.stderr)
        return 2
    if "--check" in argv:
        return 0
    problem = asyncio.run(database_problem_at_start(settings))
    if problem:
        print(f"roster: cannot reach the {engine} database: {problem}", file=sys.stderr)
        return STARTUP_FAILURE
    # Checked once, here: a worker (re)started later during an outage serves 503s until the
    # database is back, instead of stopping the whole service.
    os.environ["DB_REQUIRED_AT_START"] = "false"
    # The workers serve requests; webhooks are delivered by a process of their own.
    os.environ["WEBHOOK_RELAY"] = "off"
    config = uvicorn.Config(
        "app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=settings.graceful_timeout,
        timeout_keep_alive=settings.keep_alive_timeout,
        access_log=False,
        log_config=LOG_CONFIG,
        server_header=False,
    )
    relay = RelayProcess()
    with metrics_directory(settings):
        relay.start()
        try:
            return serve(config)
        finally:
            relay.stop()


@contextmanager
def metrics_directory(settings: Settings) -> Iterator[None]:
    """With metrics on: a fresh, empty directory for the counts of the workers and the webhook
    relay's process, in PROMETHEUS_MULTIPROC_DIR before they start (prometheus_client reads it
    when first imported), removed when the server stops; /metrics then adds up every one."""
    if not settings.metrics:
        yield
        return
    # Fresh each start: files left by an earlier run would add their counts to this run's.
    directory = tempfile.mkdtemp(prefix="roster-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def database_problem_at_start(settings: Settings) -> str | None:
    """Why the database does not answer `SELECT 1` right now, or None."""
    from home.storage import Storage

    storage = Storage(settings)
    try:
        await storage.adapter().ping()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    finally:
        await storage.close()
    return None


def serve(config: uvicorn.Config) -> int:
    """Run uvicorn as `uvicorn.run` does, but exit non-zero when a worker cannot start."""
    if config.workers > 1:
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
        # uvicorn stops every worker when one fails to start, yet exits 0: say it failed.
        failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    else:
        server = uvicorn.Server(config)
        try:
            server.run()
        except SystemExit as exit_:  # uvicorn exits by itself when the app cannot start
            if exit_.code != STARTUP_FAILURE:
                raise
        failed = not server.started
    if failed:
        print("roster: the server could not start; see the errors above", file=sys.stderr)
        return STARTUP_FAILURE
    return 0
