"""The webhook relay's own process, beside the production command's workers.

A relay delivers one endpoint's changes one after another, each waiting for the answer to the
one before. Inside a busy worker every one of those waits also waits its turn behind the
requests the worker serves, and deliveries fall behind the writes; in a process of its own
the relay keeps up. `python -m home.server` starts one (`RelayProcess`), restarts it if it
dies, and stops it last; the workers run none (WEBHOOK_RELAY=off). The process prunes the
change feed too, and ends by itself if the server that started it is gone.

`uvicorn app:create_app` alone (as `make run` serves) runs the relay inside the app instead.
"""

from __future__ import annotations

import logging
import logging.config
import os
import signal
import subprocess
import sys
import threading
import time

import uvloop

logger = logging.getLogger("roster.relay")

# How often the relay process looks whether the server that started it is still there.
PARENT_CHECK_SECONDS = 1.0
RESTART_AFTER_SECONDS = 1.0
STOP_WITHIN_SECONDS = 30.0


async def _relay() -> None:
    from home.changes.service import ChangeService
    from home.changes.watch import FeedWatcher
    from home.settings import get_settings
    from home.storage import Storage

    settings = get_settings()
    storage = Storage(settings)
    watcher = FeedWatcher()
    service = ChangeService(storage, settings, watcher, relay=True)
    parent = os.getppid()
    await storage.open()
    try:
        async with service.lifespan(None):
            logger.info("webhook relay started [%d]", os.getpid())
            while not watcher.closing.is_set():
                if os.getppid() != parent:  # the server is gone (killed): so is its relay
                    logger.warning("webhook relay: the server stopped; stopping")
                    watcher.close()
                    break
                await watcher.wait(watcher.mark(), PARENT_CHECK_SECONDS)
    finally:
        await storage.close()
        logger.info("webhook relay stopped [%d]", os.getpid())


def main() -> None:
    """`python -m home.server.relay`: run the relay until SIGTERM or SIGINT."""
    from home.server.serve import LOG_CONFIG

    logging.config.dictConfig(LOG_CONFIG)
    # The relay turns SIGTERM and SIGINT into a clean stop (`FeedWatcher.closing_on_signals`);
    # nothing else is to happen on them.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.SIG_IGN)
    # uvloop, as the workers run (uvicorn picks it): about a third less CPU per delivery than
    # asyncio's own loop, most of it in the system calls of each request's wait and send.
    uvloop.run(_relay())


class RelayProcess:
    """The production command's relay process: started with the server, started again if it
    dies, stopped with the server."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen:
        env = {**os.environ, "WEBHOOK_RELAY": "on"}
        # A session of its own: Ctrl-C at a terminal reaches the server, which stops it.
        return subprocess.Popen(
            [sys.executable, "-m", "home.server.relay"], env=env, start_new_session=True
        )

    def _watch(self) -> None:
        while not self._stopping.is_set():
            assert self.process is not None
            code = self.process.wait()
            if self._stopping.is_set():
                return
            logger.error("webhook relay exited with %s; starting it again", code)
            time.sleep(RESTART_AFTER_SECONDS)
            if not self._stopping.is_set():
                self.process = self._spawn()

    def start(self) -> None:
        """Start the relay process, and watch it."""
        self.process = self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="relay-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop the relay process (SIGTERM: it finishes the delivery in hand), then wait."""
        self._stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
