"""Idempotency keys: the first answer to each (API key, Idempotency-Key), kept for 48 hours.

Claimed and answered inside the request's own write transaction, so an answer is stored
exactly when the write it describes commits. Two requests with the same key at once: on
PostgreSQL the second claim waits for the first transaction and then finds its answer; on
SQLite writers take turns anyway. Plain SQL: `INSERT ... ON CONFLICT DO NOTHING RETURNING`
is the claim, which Piccolo's query builder does not express.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from piccolo.querystring import QueryString

from home.roster.tables import Member

KEEP_SECONDS = 48 * 3600
SWEEP_EVERY_SECONDS = 60

CLAIM = (
    "INSERT INTO idempotency_key (owner, key, fingerprint, created_at) VALUES ({}, {}, {}, {}) "
    "ON CONFLICT (owner, key) DO NOTHING RETURNING owner"
)
FIND = "SELECT fingerprint, status, body FROM idempotency_key WHERE owner = {} AND key = {}"
ANSWER = "UPDATE idempotency_key SET status = {}, body = {} WHERE owner = {} AND key = {}"
SWEEP = "DELETE FROM idempotency_key WHERE created_at < {}"

_next_sweep = 0.0


@dataclass(frozen=True)
class Stored:
    """The answer given the first time, and what the request looked like then."""

    fingerprint: str
    status: int | None
    body: str | None


async def _run(sql: str, *args: object) -> list[dict]:
    return await Member._meta.db.run_querystring(QueryString(sql, *args))


async def claim(owner: int, key: str, fingerprint: str) -> Stored | None:
    """Claim `key` for this request; None when claimed, else what was stored for it before."""
    global _next_sweep
    now = time.time()
    if now >= _next_sweep:
        _next_sweep = now + SWEEP_EVERY_SECONDS
        await _run(SWEEP, int(now) - KEEP_SECONDS)
    if await _run(CLAIM, owner, key, fingerprint, int(now)):
        return None
    [row] = await _run(FIND, owner, key)
    return Stored(row["fingerprint"], row["status"], row["body"])


async def answer(owner: int, key: str, status: int, body: str) -> None:
    """Keep the answer to a claimed key."""
    await _run(ANSWER, status, body, owner, key)
