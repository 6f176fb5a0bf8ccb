"""Waking this process's followers of the change feed, and telling them the server stops.

The live streams and the webhook relay read the feed from the database; this only tells them
when to look again: soon after another connection commits (PostgreSQL's NOTIFY, SQLite's
data_version, through `Adapter.watch_changes`). Without a watcher running (an app under test
without its lifespan) they look on a timer instead.

uvicorn tells no application that it is stopping, and waits for every open response before it
does: `closing_on_signals` chains onto its SIGTERM/SIGINT handlers so that endless responses
(the live streams) can end cleanly when the server is asked to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class FeedWatcher:
    """One per process: the followers' wake-up call and the server's stop notice."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closing = asyncio.Event()
        # True while the database's wake-ups arrive (the app's lifespan runs `watch`).
        self.running = False

    def poke(self) -> None:
        """The feed may have grown: wake everyone waiting."""
        event, self._event = self._event, asyncio.Event()
        event.set()

    def mark(self) -> asyncio.Event:
        """Take a mark before reading the feed, then `wait(mark)`: a poke between the two is
        not missed."""
        return self._event

    async def wait(self, mark: asyncio.Event, seconds: float) -> None:
        """Until a poke after `mark`, the server stopping, or `seconds` have passed."""
        if mark.is_set() or self.closing.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await mark.wait()

    def close(self) -> None:
        """The server stops: wake everyone waiting, for good."""
        self.closing.set()
        self.poke()

    @contextlib.contextmanager
    def closing_on_signals(self) -> Iterator[None]:
        """While open, SIGTERM and SIGINT also set `closing` (then do what they did before).

        Only the main thread may set signal handlers; elsewhere (a test's thread) nothing is
        chained, and the server's own handling is unchanged.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        loop = asyncio.get_running_loop()
        previous: dict[int, Any] = {}

        def stop(number: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self.close)
            handler = previous.get(number)
            if callable(handler):
                handler(number, frame)
            elif handler == signal.SIG_DFL:  # what the signal would have done: do it
                signal.signal(number, signal.SIG_DFL)
                signal.raise_signal(number)

        for number in STOP_SIGNALS:
            previous[number] = signal.signal(number, stop)
        try:
            yield
        finally:
            for number, handler in previous.items():
                # Put back what was there, unless the server has replaced ours meanwhile.
                if signal.getsignal(number) is stop:
                    signal.signal(number, handler)
