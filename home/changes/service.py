"""The change feed's work in one process, for as long as the app runs: waking its followers,
pruning what is older than CHANGES_RETENTION_DAYS, and the webhook relay.

A process with the relay (the relay's own under the production command; the app itself under
`uvicorn app:create_app`) watches the database for commits all the time and prunes. A worker
without it watches only while a live stream follows the feed: each commit costs a watcher a
wake-up, which a worker serving writes and no stream need not pay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from home.changes.relay import Relay
from home.changes.tables import WebhookAttempt
from home.changes.watch import FeedWatcher
from home.settings import Settings
from home.storage import Storage

logger = logging.getLogger("roster.changes")

PRUNE_EVERY_SECONDS = 3600.0
# A worker's watcher stops this long after the last live stream ended.
WATCH_LINGER_SECONDS = 30.0
# A process without the relay slot (another worker holds it, on SQLite) asks again this often.
SLOT_RETRY_SECONDS = 5.0


class ChangeService:
    """The watcher, the pruner and the relay of one app."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        watcher: FeedWatcher,
        clock: Callable[[], float] = time.time,
        relay: bool = True,
    ):
        self.storage = storage
        self.settings = settings
        self.watcher = watcher
        self.clock = clock
        self.relay_enabled = relay
        self._followers = 0
        self._watching: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def following(self) -> AsyncIterator[FeedWatcher]:
        """For a live stream: the watcher, woken by commits for as long as the block runs."""
        self._followers += 1
        if self._watching is None or self._watching.done():
            self._watching = asyncio.create_task(self._watch())
        try:
            yield self.watcher
        finally:
            self._followers -= 1

    async def _watch(self) -> None:
        """Watch the database for commits while someone follows (always, with the relay)."""
        async with self.storage.adapter().watch_changes(self.watcher.poke):
            self.watcher.running = True
            try:
                quiet_since = time.monotonic()
                while not self.watcher.closing.is_set():
                    if self._followers or self.relay_enabled:
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since > WATCH_LINGER_SECONDS:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.watcher.closing.wait(), 1.0)
            finally:
                self.watcher.running = False

    async def prune(self) -> int:
        """Delete the changes and delivery attempts older than the retention; how many changes."""
        before = datetime.fromtimestamp(self.clock(), UTC) - timedelta(
            days=self.settings.changes_retention_days
        )
        pruned = await self.storage.adapter().prune_changes(before)
        await WebhookAttempt.delete().where(WebhookAttempt.attempted_at < before)
        return pruned

    async def _prune_now_and_then(self) -> None:
        while not self.watcher.closing.is_set():
            try:
                pruned = await self.prune()
                if pruned:
                    logger.info("pruned %d changes older than the retention", pruned)
            except Exception as error:
                logger.error("could not prune the change feed: %s: %s", type(error).__name__, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.watcher.closing.wait(), PRUNE_EVERY_SECONDS)

    async def _relay(self) -> None:
        adapter = self.storage.adapter()
        while not self.watcher.closing.is_set():
            async with adapter.relay_slot() as slot:
                if slot.held:
                    relay = Relay(
                        self.storage, self.settings, self.watcher, self.clock, only=slot.only
                    )
                    try:
                        await relay.run()
                    finally:
                        await relay.close()
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.watcher.closing.wait(), SLOT_RETRY_SECONDS)

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Litestar lifespan hook (after the storage's): with the relay, the watcher, pruning
        and the relay run exactly as long as the app; a stop signal ends live streams first."""
        with self.watcher.closing_on_signals():
            tasks = []
            if self.relay_enabled:
                self._watching = asyncio.create_task(self._watch())
                tasks.append(asyncio.create_task(self._prune_now_and_then()))
                tasks.append(asyncio.create_task(self._relay()))
            try:
                yield
            finally:
                self.watcher.close()
                if self._watching is not None:
                    tasks.append(self._watching)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
