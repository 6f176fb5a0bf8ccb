"""Closed periods: once payroll has been run, an operator closes the books up to an instant,
and from then on no period that starts before it may be created, changed or deleted, nor a
member who has one deleted. The database refuses it, whoever writes (the migration of
2026-12-04T20:00:01); the application names the closing in its refusals.

Closing moves forward only; moving it back (reopening) is a separate action, for superusers.
Both are audited (the `closing` row's triggers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from home.roster.tables import ActivityPeriod, Closing
from home.roster.timefmt import format_rfc3339
from home.storage import Adapter


class ClosingError(ValueError):
    """A closing cannot be moved as asked; the message says why and what to do."""


class ClosingConflict(ClosingError):
    """The time asked for is well formed, but what is stored forbids it (it would reopen
    periods, or a session started before it still runs)."""


@dataclass(frozen=True)
class Closed:
    """Up to when the books are closed (None: nothing is), since when, by whom."""

    until: datetime | None
    changed_at: datetime | None
    changed_by: str | None

    def describe(self) -> str:
        """How refusals name the closing."""
        if self.until is None:
            return "nothing is closed"
        closed = f"periods starting before {format_rfc3339(self.until)} are closed"
        by = f" by {self.changed_by}" if self.changed_by else ""
        when = f" on {format_rfc3339(self.changed_at)}" if self.changed_at else ""
        return f"{closed} (closed{by}{when})" if by or when else closed


async def current() -> Closed:
    """The closing as it stands."""
    row = await Closing.select().where(Closing.id == 1).first()
    if row is None:
        return Closed(None, None, None)
    return Closed(row["until"], row["changed_at"], row["changed_by"])


def _utc(until: datetime) -> datetime:
    if until.tzinfo is None:
        raise ClosingError("until needs a UTC offset, e.g. 2026-12-01T00:00:00Z")
    return until.astimezone(UTC)


async def close(adapter: Adapter, until: datetime, actor: str, now: datetime) -> Closed:
    """Close the books up to `until` (not later than now, and not before the current closing:
    that is reopening). Refused while a session started before it still runs."""
    until = _utc(until)
    if until > now:
        raise ClosingError(
            f"until ({format_rfc3339(until)}) is in the future: close only what has happened"
        )
    async with adapter.audited(actor):
        # Sessions being started now are committed (and seen below) or wait for the closing.
        await adapter.hold_period_writers()
        closed = await current()
        if closed.until is not None and until < closed.until:
            raise ClosingConflict(
                f"{closed.describe()}: closing up to {format_rfc3339(until)} would reopen some; "
                "a superuser reopens in the admin (Forms: Reopen closed periods)"
            )
        running = (
            await ActivityPeriod.select(ActivityPeriod.start_time, ActivityPeriod.member.real_name)
            .where(ActivityPeriod.end_time.is_null(), ActivityPeriod.start_time < until)
            .first()
        )
        if running is not None:
            raise ClosingConflict(
                f"{running['member.real_name']} has a session running since "
                f"{format_rfc3339(running['start_time'])}: stop it first, or close up to "
                "its start"
            )
        await _set(until, actor, now)
    return await current()


async def reopen(adapter: Adapter, until: datetime | None, actor: str, now: datetime) -> Closed:
    """Move the closing back to `until` (None: nothing closed). For superusers only."""
    until = None if until is None else _utc(until)
    async with adapter.audited(actor):
        closed = await current()
        if closed.until is None or (until is not None and until >= closed.until):
            raise ClosingConflict(
                f"{closed.describe()}; reopening moves it back: give an earlier time, or none "
                "to reopen everything"
            )
        await _set(until, actor, now)
    return await current()


async def _set(until: datetime | None, actor: str, now: datetime) -> None:
    now = now.replace(microsecond=0)  # shown in every refusal: seconds are enough
    values = {Closing.until: until, Closing.changed_at: now, Closing.changed_by: actor}
    updated = await Closing.update(values).where(Closing.id == 1).returning(Closing.id)
    if not updated:  # the row the migration made was deleted: make it again
        await Closing.insert(Closing(id=1, until=until, changed_at=now, changed_by=actor))
