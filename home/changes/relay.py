"""The webhook relay: every change, to every enabled endpoint that wants it, at least once and
in change order per endpoint.

The feed is the outbox: the database writes each change in the transaction that made it, and
each endpoint keeps its position in the feed (`cursor_txid`, `cursor_id`), so a crash loses
nothing and a change is sent again only when its delivery is not known to have succeeded.

A relay claims the endpoints that are due (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so relays on
several workers and hosts take different ones) and holds each with a lease it renews as it
works; a crashed relay's endpoints are taken over once their lease runs out. For each, it
sends the changes after its position one by one (Standard Webhooks 1.0: `webhook-id`,
`webhook-timestamp`, `webhook-signature`), records every attempt in the delivery log, and
moves the position on. A failure (not 2xx, no answer within WEBHOOK_TIMEOUT, no connection;
redirects are not followed) stops that endpoint until the next attempt on the retry schedule
(429 and 503 name their own in Retry-After); 410, or the schedule running out, disables it
with the reason. Other endpoints are not held up.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
from standardwebhooks.webhooks import Webhook

from home.changes.feed import Change, change
from home.changes.tables import WebhookEndpoint, WebhookRedelivery
from home.changes.watch import FeedWatcher
from home.changes.webhooks import (
    RefusedAddress,
    Resolver,
    Target,
    check_url,
    system_resolver,
    wants,
)
from home.server import metrics
from home.settings import Settings
from home.storage import Position, Storage
from home.storage.base import AttemptRow

logger = logging.getLogger("roster.webhooks")

ACTOR = "webhook relay"
READ_AT_ONCE = 200
CLAIM_AT_ONCE = 100
# Attempts are written to the log, and the position moved on, this often while delivering.
FLUSH_EVERY = 50
FLUSH_SECONDS = 0.2
# A relay with nothing to do looks again after this long (sooner when woken by a change).
IDLE_SECONDS = 1.0
# Woken by every commit, a relay looks at most this often: a burst of writes is one look.
LOOK_EVERY_SECONDS = 0.02
# An idle relay, woken by a commit, claims at most this often: the first change after a
# quiet spell waits this long at most; the endpoint is then held while changes keep coming.
CLAIM_EVERY_SECONDS = 0.25
# An endpoint's task keeps it while changes keep coming, and gives it back after this long
# without any.
HOLD_SECONDS = 10.0
# The most of an endpoint's answer that is read (then the connection is dropped).
ANSWER_MAX_BYTES = 64 * 1024
# How long a checked address is used before the name is resolved and checked again.
RESOLVE_SECONDS = 30.0
# The longest wait a Retry-After may ask for.
RETRY_AFTER_MAX = 7 * 86_400.0
JITTER = 0.1
LOG_EVERY_SECONDS = 10.0

_encode = msgspec.json.Encoder().encode
# Each outcome's counter, looked up once (`labels()` takes a lock and builds a key each time).
_attempt_counters: dict[str, Any] = {}


@dataclass
class Claimed:
    """An endpoint this relay holds, as it works through it."""

    id: int
    url: str
    types: list[str]
    secret: str
    cursor: Position
    failures: int
    attempts: list[AttemptRow] = field(default_factory=list)
    done_redeliveries: list[int] = field(default_factory=list)
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class Result:
    """How one attempt went."""

    ok: bool
    status: int | None
    error: str | None
    seconds: float
    retry_after: float | None = None


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a Retry-After header asks to wait (a number, or an HTTP date), if readable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), RETRY_AFTER_MAX)


class Relay:
    """One process's relay: it claims due endpoints and delivers their changes."""

    def __init__(
        self,
        storage: Storage,
        settings: Settings,
        watcher: FeedWatcher,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Resolver = system_resolver,
        only: bool = False,
    ):
        self.storage = storage
        self.settings = settings
        self.watcher = watcher
        self.clock = clock
        self.rng = rng or random.Random()
        self.resolve = resolve
        # The only relay on its database (SQLite): a lease it finds is a dead process's.
        self.only = only
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:100]
        # httpx's transport, without its client: a fifth less CPU per delivery (no cookies,
        # auth, redirects or logging to skip), and a redirect is never followed anyway.
        self.transport = transport or httpx.AsyncHTTPTransport(retries=0, trust_env=False)
        limit = settings.webhook_timeout
        self.timeouts = {
            "timeout": {"connect": limit, "read": limit, "write": limit, "pool": limit}
        }
        self._signers: dict[str, Webhook] = {}
        self._targets: dict[str, tuple[float, Target, httpx.URL]] = {}
        self._last_logged = -LOG_EVERY_SECONDS

    async def close(self) -> None:
        """Close the relay's connections."""
        await self.transport.aclose()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def run(self) -> None:
        """Deliver until the server stops. Each endpoint claimed is served by a task of its
        own, which keeps it (and its lease) while changes keep coming, so that a steady stream
        costs no claim per change; new endpoints are claimed at once when the feed grows, else
        every second."""
        serving: dict[int, asyncio.Task[int]] = {}
        while not self.watcher.closing.is_set():
            mark = self.watcher.mark()
            looked = time.monotonic()
            try:
                for endpoint in await self._claim(exclude=set(serving)):
                    serving[endpoint.id] = asyncio.create_task(self._serve(endpoint, HOLD_SECONDS))
            except Exception as error:  # the database is down, say: try again shortly
                self._log(error)
            for endpoint_id, task in list(serving.items()):
                if task.done():
                    del serving[endpoint_id]
                    if not task.cancelled() and task.exception() is not None:
                        self._log(task.exception())
            if serving:  # busy: look for other endpoints now and then, not at every change
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.watcher.closing.wait(), IDLE_SECONDS)
            else:
                await self.watcher.wait(mark, IDLE_SECONDS)
                await asyncio.sleep(max(0.0, looked + CLAIM_EVERY_SECONDS - time.monotonic()))
        # Stopping: each endpoint's task ends after the delivery in hand, giving back its lease.
        await asyncio.gather(*serving.values(), return_exceptions=True)

    def _log(self, error: BaseException | None) -> None:
        if time.monotonic() - self._last_logged >= LOG_EVERY_SECONDS:
            self._last_logged = time.monotonic()
            logger.error("webhook relay: %s: %s", type(error).__name__, error)

    async def run_once(self) -> int:
        """Claim the endpoints that are due and deliver what they are owed now; the attempts
        made (for tests and tools: `run` is what serves)."""
        claimed = await self._claim()
        if not claimed:
            return 0
        made = await asyncio.gather(*(self._serve(endpoint, 0.0) for endpoint in claimed))
        return sum(made)

    # --- claims ---------------------------------------------------------------------------

    async def _claim(self, exclude: set[int] | None = None) -> list[Claimed]:
        adapter = self.storage.adapter()
        now = self._now()
        due = (WebhookEndpoint.next_attempt_at.is_null()) | (WebhookEndpoint.next_attempt_at <= now)
        free = (WebhookEndpoint.lease_until.is_null()) | (WebhookEndpoint.lease_until < now)
        conditions = [WebhookEndpoint.enabled.eq(True), due]
        if not self.only:
            conditions.append(free)
        if exclude:  # served already, by a task of this relay's
            conditions.append(WebhookEndpoint.id.not_in(list(exclude)))
        # A plain read first: most of the time nothing is due, and a claim takes write locks.
        if not await WebhookEndpoint.exists().where(*conditions):
            return []
        async with adapter.write_transaction():
            rows = await adapter.claimable(
                WebhookEndpoint.select(
                    WebhookEndpoint.id,
                    WebhookEndpoint.url,
                    WebhookEndpoint.types,
                    WebhookEndpoint.secret,
                    WebhookEndpoint.cursor_txid,
                    WebhookEndpoint.cursor_id,
                    WebhookEndpoint.failures,
                )
                .where(*conditions)
                .order_by(WebhookEndpoint.id)
                .limit(CLAIM_AT_ONCE)
            )
            if rows:
                await WebhookEndpoint.update(
                    {
                        WebhookEndpoint.lease_until: self._lease_end(),
                        WebhookEndpoint.leased_by: self.name,
                    }
                ).where(WebhookEndpoint.id.is_in([row["id"] for row in rows]))
        return [
            Claimed(
                id=row["id"],
                url=row["url"],
                types=json.loads(row["types"]),
                secret=row["secret"],
                cursor=(row["cursor_txid"], row["cursor_id"]),
                failures=row["failures"],
            )
            for row in rows
        ]

    def _lease_end(self) -> datetime:
        return self._now() + timedelta(seconds=self.settings.webhook_lease_seconds)

    # --- one endpoint ---------------------------------------------------------------------

    async def _serve(self, endpoint: Claimed, hold: float) -> int:
        """Redeliveries first, then the changes after its position, until none has come for
        `hold` seconds or the server stops; the attempts made."""
        adapter = self.storage.adapter()
        made = 0
        redeliveries = (
            await WebhookRedelivery.select(
                WebhookRedelivery.id, WebhookRedelivery.change_txid, WebhookRedelivery.change_id
            )
            .where(WebhookRedelivery.endpoint == endpoint.id)
            .order_by(WebhookRedelivery.id)
        )
        # The log and the position are written in the background while deliveries go on (a
        # write can wait its turn for the database, SQLite's lock say): one write at a time.
        # Each write renews the lease, also while waiting for changes.
        writing: asyncio.Task[bool] | None = None
        flushed = time.monotonic()
        quiet_since = time.monotonic()
        lease = self.settings.webhook_lease_seconds
        renew_every = min(FLUSH_SECONDS * 10, lease / 3)
        # When the lease written last runs out, by this process's clock (the claim, just now,
        # counts as a write): no delivery may start that could end after it.
        leased_until = flushed + lease

        def write() -> asyncio.Task[bool]:
            """Write the log and the position and renew the lease, in the background."""
            nonlocal writing, flushed
            started = time.monotonic()

            def renewed(task: asyncio.Task[bool]) -> None:
                nonlocal leased_until
                if not task.cancelled() and task.exception() is None and task.result():
                    leased_until = max(leased_until, started + lease)

            task = asyncio.ensure_future(self._flush(endpoint))
            task.add_done_callback(renewed)
            writing, flushed = task, started
            return task

        async def keep_lease() -> bool:
            """Write when due; wait for the write only when the lease would run out during the
            next delivery. False when the lease is lost (another relay has the endpoint, or it
            was disabled or deleted meanwhile)."""
            nonlocal writing
            if writing is not None and writing.done():
                if not writing.result():
                    return False
                writing = None
            since = time.monotonic() - flushed
            if writing is None and (
                len(endpoint.attempts) >= FLUSH_EVERY
                or since > (FLUSH_SECONDS if endpoint.attempts else renew_every)
            ):
                write()
            if time.monotonic() + self.settings.webhook_timeout + lease / 10 >= leased_until:
                ok = await (writing or write())
                writing = None
                return ok
            return True

        for asked in redeliveries:
            position = (asked["change_txid"], asked["change_id"])
            rows = await adapter.changes_after((position[0], position[1] - 1), 1)
            if rows and (rows[0][0], rows[0][1]) == position:
                if not await keep_lease():
                    return made
                made += 1
                result = await self._send(endpoint, change(rows[0]))
                self._note(endpoint, change(rows[0]), result, 1, "redelivered", "redelivery failed")
            endpoint.done_redeliveries.append(asked["id"])
        while not self.watcher.closing.is_set():
            mark = self.watcher.mark()
            looked = time.monotonic()
            rows = await adapter.changes_after(endpoint.cursor, READ_AT_ONCE)
            if rows:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= hold:
                break
            for row in rows:
                position = (row[0], row[1])
                shown = change(row)
                if not wants(endpoint.types, shown.type):
                    endpoint.cursor = position
                    continue
                # Before each delivery: the lease must outlast it.
                if not await keep_lease():
                    return made
                made += 1
                attempt = endpoint.failures + 1
                result = await self._send(endpoint, shown)
                if not result.ok:
                    if writing is not None:
                        await writing
                    await self._failed(endpoint, shown, result, attempt)
                    return made
                self._note(endpoint, shown, result, attempt, "delivered", "")
                endpoint.cursor, endpoint.failures = position, 0
                endpoint.delivered_at = self._now()
                if self.watcher.closing.is_set():
                    break
            if not await keep_lease():
                return made
            if not rows:
                await self.watcher.wait(mark, min(IDLE_SECONDS, max(hold, 0.0)))
                await asyncio.sleep(max(0.0, looked + LOOK_EVERY_SECONDS - time.monotonic()))
        if writing is not None and not await writing:
            return made
        await self._flush(endpoint, release=True)
        return made

    def _note(
        self, endpoint: Claimed, shown: Change, result: Result, attempt: int, ok: str, bad: str
    ) -> None:
        outcome = ok if result.ok else bad
        counter = _attempt_counters.get(outcome)
        if counter is None:
            counter = _attempt_counters[outcome] = metrics.WEBHOOK_ATTEMPTS.labels(outcome)
        counter.inc()
        metrics.WEBHOOK_SECONDS.observe(result.seconds)
        endpoint.attempts.append(
            (
                endpoint.id,
                shown.id,
                shown.type,
                self._now(),
                attempt,
                result.status,
                result.error,
                round(result.seconds * 1000, 2),
                outcome,
            )
        )

    async def _failed(self, endpoint: Claimed, shown: Change, result: Result, attempt: int) -> None:
        """Schedule the next attempt at this change, or disable the endpoint, saying why."""
        schedule = self.settings.webhook_retry_schedule
        endpoint.failures = attempt
        reason = None
        next_at = None
        if result.status == 410:
            reason = (
                f"the endpoint answered 410 Gone to change {shown.id} at "
                f"{self._now():%Y-%m-%d %H:%M:%S} UTC: it asked for no more deliveries"
            )
            outcome = "gone"
        elif attempt > len(schedule):
            reason = (
                f"gave up on change {shown.id} after {attempt} attempts "
                f"({result.error}); enable the endpoint again to resume from it"
            )
            outcome = "gave up"
        else:
            delay = schedule[attempt - 1] * (1 + JITTER * (2 * self.rng.random() - 1))
            if result.retry_after is not None:
                delay = result.retry_after
            next_at = self._now() + timedelta(seconds=delay)
            outcome = "failed"
        self._note(endpoint, shown, result, attempt, "", outcome)
        await self._flush(endpoint, release=True, next_at=next_at, disable=reason)
        if reason:
            logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)

    async def _flush(
        self,
        endpoint: Claimed,
        release: bool = False,
        next_at: datetime | None = None,
        disable: str | None = None,
    ) -> bool:
        """Write the attempts and the position; renew (or give back) the lease. False when
        the lease was lost (another relay took over) or the endpoint was disabled or deleted
        meanwhile: this relay then stops working on it. What is written is taken at once,
        before the first wait: deliveries made meanwhile go into the next write."""
        adapter = self.storage.adapter()
        attempts, endpoint.attempts = endpoint.attempts, []
        redelivered, endpoint.done_redeliveries = endpoint.done_redeliveries, []
        delivered_at, endpoint.delivered_at = endpoint.delivered_at, None
        values: dict[Any, Any] = {
            WebhookEndpoint.cursor_txid: endpoint.cursor[0],
            WebhookEndpoint.cursor_id: endpoint.cursor[1],
            WebhookEndpoint.failures: endpoint.failures,
            WebhookEndpoint.next_attempt_at: next_at,
            WebhookEndpoint.lease_until: None if release else self._lease_end(),
            WebhookEndpoint.leased_by: None if release else self.name,
        }
        if delivered_at is not None:
            values[WebhookEndpoint.last_delivery_at] = delivered_at
        if disable is not None:
            values[WebhookEndpoint.enabled] = False
            values[WebhookEndpoint.disabled_reason] = disable
        async with adapter.audited(ACTOR) as transaction:
            held = await (
                WebhookEndpoint.update(values)
                .where(
                    WebhookEndpoint.id == endpoint.id,
                    WebhookEndpoint.leased_by == self.name,
                    WebhookEndpoint.enabled.eq(True),
                )
                .returning(WebhookEndpoint.id)
            )
            if held and attempts:
                await adapter.log_attempts(transaction.connection, attempts)
            if held and redelivered:
                await WebhookRedelivery.delete().where(WebhookRedelivery.id.is_in(redelivered))
        return bool(held)

    # --- one delivery ---------------------------------------------------------------------

    async def _target(self, url: str) -> tuple[Target, httpx.URL]:
        now = time.monotonic()
        known = self._targets.get(url)
        if known is not None and known[0] > now:
            return known[1], known[2]
        target = await check_url(url, self.settings.webhook_allow_private, self.resolve)
        if len(self._targets) > 10_000:
            self._targets.clear()
        self._targets[url] = (now + RESOLVE_SECONDS, target, httpx.URL(target.url))
        return target, self._targets[url][2]

    def _sign(self, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
        signer = self._signers.get(secret)
        if signer is None:
            if len(self._signers) > 10_000:
                self._signers.clear()
            signer = self._signers[secret] = Webhook(secret)
        return signer.sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)

    async def _send(self, endpoint: Claimed, shown: Change) -> Result:
        """POST one change, signed (as `webhooks.signature` does); how it went."""
        body = _encode({"type": shown.type, "timestamp": shown.at, "data": shown.data})
        timestamp = int(self.clock())
        started = time.perf_counter()
        limit = self.settings.webhook_timeout
        try:
            target, address = await self._target(endpoint.url)
            headers = [
                (b"host", target.host_header.encode()),
                (b"user-agent", b"roster-webhooks/1"),
                (b"content-type", b"application/json"),
                (b"webhook-id", shown.id.encode()),
                (b"webhook-timestamp", str(timestamp).encode()),
                (
                    b"webhook-signature",
                    self._sign(endpoint.secret, shown.id, timestamp, body).encode(),
                ),
            ]
            extensions: dict[str, Any] = dict(self.timeouts)
            if target.server_name:
                extensions["sni_hostname"] = target.server_name
            request = httpx.Request(
                "POST", address, headers=headers, content=body, extensions=extensions
            )
            async with asyncio.timeout(limit):
                answer = await self.transport.handle_async_request(request)
                try:
                    read = 0
                    async for chunk in answer.aiter_bytes():
                        read += len(chunk)
                        if read > ANSWER_MAX_BYTES:
                            break
                finally:
                    await answer.aclose()
        except RefusedAddress as error:
            return Result(False, None, f"refused: {error}", time.perf_counter() - started)
        except (TimeoutError, httpx.TimeoutException):
            waited = time.perf_counter() - started
            return Result(False, None, f"no answer within {limit:g} s", waited)
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            return Result(False, None, f"no connection: {reason}", time.perf_counter() - started)
        seconds = time.perf_counter() - started
        status = answer.status_code
        if 200 <= status < 300:
            return Result(True, status, None, seconds)
        if 300 <= status < 400:
            error = f"answered {status} (a redirect, which is not followed: register the final URL)"
        else:
            error = f"answered {status}"
        wait = (
            retry_after(answer.headers.get("retry-after"), self.clock())
            if status in (429, 503)
            else None
        )
        return Result(False, status, error, seconds, wait)
