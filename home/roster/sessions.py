"""Recording activity as it happens: members, running sessions, finished periods.

Each operation runs inside the caller's write transaction (`Adapter.audited`) and either
completes or raises a `RosterError` that says what to change. The database's own rules (no
overlap, one running session, an existing member) decide each write, so two requests racing
for the same member cannot both win; a refusal is explained (`RosterError.explained()`, which
names what the write clashed with) after its transaction has rolled back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from home.roster import closing
from home.roster.tables import ActivityPeriod, Member
from home.roster.timefmt import format_rfc3339
from home.roster.validation import (
    FIRST_YEAR,
    LAST_YEAR,
    as_utc,
    check_period,
    check_real_name,
    check_tz,
)
from home.storage import Adapter
from home.storage.base import Rule

# Clocks of the systems that report logins differ a little from ours.
CLOCK_SKEW = timedelta(minutes=5)


class RosterError(Exception):
    """A request the roster refuses; the message says what to change."""

    status = 400

    async def explained(self) -> RosterError:
        """This refusal with its full message (looked up after the write rolled back)."""
        return self


class Invalid(RosterError):
    """The request's values break a rule."""


class NotFound(RosterError):
    """No such member."""

    status = 404


class Conflict(RosterError):
    """The request conflicts with what is stored (a running session, an overlap)."""

    status = 409


class Clash(Conflict):
    """The database refused a period that overlaps another of the member's, or a second
    running session; `explained()` names what it clashed with."""

    def __init__(self, member_id: str, start: datetime, end: datetime | None):
        super().__init__(f"the period conflicts with another of member {member_id}'s")
        self.member_id, self.start, self.end = member_id, start, end

    async def explained(self) -> RosterError:
        clash = await overlapping(self.member_id, self.start, self.end)
        if not clash:  # the other write has gone again: say what the rule is
            return self
        running = next((period for period in clash if period.end_time is None), None)
        if self.end is None and running is not None:
            return Conflict(
                f"a session is already running for member {self.member_id}: "
                f"{describe(running)}; stop it first"
            )
        what = "the session" if self.end is None else "the period"
        return Conflict(
            f"{what} would overlap {', '.join(describe(period) for period in clash)}; "
            "a member's periods never overlap (one may start exactly when another ends)"
        )


class StoppedTooEarly(Conflict):
    """The database refused an end before the running session's start (it conflicts with
    what is stored, like an overlap: 409)."""

    def __init__(self, member_id: str, at: datetime):
        super().__init__(f"at ({format_rfc3339(at)}) is before the running session started")
        self.member_id, self.at = member_id, at

    async def explained(self) -> RosterError:
        running = await running_session(self.member_id)
        if running is None:
            return self
        return Conflict(
            f"at ({format_rfc3339(self.at)}) is before the running session started "
            f"({format_rfc3339(running.start_time)}); a session ends at or after its start"
        )


class ClosedPeriod(Conflict):
    """The database refused a period that starts before the closing; `explained()` names it."""

    def __init__(self, start: datetime | None):
        super().__init__("the period is closed")
        self.start = start

    async def explained(self) -> RosterError:
        closed = await closing.current()
        what = (
            "the running session started before it"
            if self.start is None
            else f"a period starting {format_rfc3339(self.start)}"
        )
        return Conflict(f"{closed.describe()}: {what} cannot be added, changed or deleted")


@dataclass(frozen=True)
class Period:
    """A stored period; `end_time` is None while the session runs."""

    id: int
    member_id: str
    start_time: datetime
    end_time: datetime | None


@dataclass(frozen=True)
class NewMember:
    """A member as created."""

    id: str
    real_name: str
    tz: str


async def create_member(real_name: Any, tz: Any) -> NewMember:
    """Add a member with a valid name and zone."""
    try:
        check_real_name(real_name)
        check_tz(tz)
    except ValueError as error:
        raise Invalid(str(error)) from None
    member = Member(real_name=real_name, tz=tz)
    await member.save()
    return NewMember(str(member.id), real_name, tz)


async def member_exists(member_id: str) -> None:
    """Raise NotFound unless the member exists."""
    if not await Member.exists().where(Member.id == member_id):
        raise unknown_member(member_id)


async def running_session(member_id: str) -> Period | None:
    """The member's running session, if one runs."""
    row = await (
        ActivityPeriod.select(ActivityPeriod.id, ActivityPeriod.start_time)
        .where(ActivityPeriod.member == member_id, ActivityPeriod.end_time.is_null())
        .first()
    )
    return None if row is None else Period(row["id"], member_id, row["start_time"], None)


async def overlapping(
    member_id: Any, start: datetime, end: datetime | None, exclude: int | None = None
) -> list[Period]:
    """The member's periods (running ones included) that [start, end) would overlap.

    A period of zero length overlaps nothing; one without an end runs forever.
    """
    if end is not None and end <= start:
        return []
    query = ActivityPeriod.select(
        ActivityPeriod.id, ActivityPeriod.start_time, ActivityPeriod.end_time
    ).where(ActivityPeriod.member == member_id)
    if exclude is not None:
        query = query.where(ActivityPeriod.id != exclude)
    # Compared here, as instants: SQLite compares stored times as text, which orders times
    # written with other UTC offsets (by plain SQL) wrongly.
    rows = await query.order_by(ActivityPeriod.start_time)
    found = []
    for row in rows:
        other_start, other_end = _utc(row["start_time"]), _utc(row["end_time"])
        if other_end is not None and other_end <= other_start:
            continue  # zero length
        if (end is None or other_start < end) and (other_end is None or start < other_end):
            found.append(Period(row["id"], str(member_id), other_start, other_end))
    return found


def describe(period: Period) -> str:
    """`period 12 (2026-11-30T03:45:00Z to 2026-11-30T05:00:00Z)`, or `... running since`."""
    if period.end_time is None:
        return f"the running session {period.id} (since {format_rfc3339(period.start_time)})"
    return (
        f"period {period.id} ({format_rfc3339(period.start_time)} to "
        f"{format_rfc3339(period.end_time)})"
    )


async def start_session(
    adapter: Adapter, member_id: str, at: datetime | None, now: datetime | None = None
) -> Period:
    """Start the member's session at `at` (default now).

    The database decides (one running session, no overlap); a refusal is explained after it.
    """
    at = _moment(at, "at", now)
    await adapter.lock_member_periods(member_id)
    try:
        inserted = await ActivityPeriod.insert(
            ActivityPeriod(member=member_id, start_time=at, end_time=None)
        ).returning(ActivityPeriod.id)
    except Exception as error:
        if (refusal := _refusal(adapter, error, member_id, at, None)) is None:
            raise
        raise refusal from None
    return Period(inserted[0]["id"], member_id, at, None)


async def stop_session(
    adapter: Adapter, member_id: str, at: datetime | None, now: datetime | None = None
) -> Period:
    """Stop the member's running session at `at` (default now)."""
    at = _moment(at, "at", now)
    await adapter.lock_member_periods(member_id)
    try:
        updated = await (
            ActivityPeriod.update({ActivityPeriod.end_time: at})
            .where(ActivityPeriod.member == member_id, ActivityPeriod.end_time.is_null())
            .returning(ActivityPeriod.id, ActivityPeriod.start_time)
        )
    except Exception as error:
        rule = adapter.broken_rule(error)
        if rule is Rule.CLOSED:
            raise ClosedPeriod(None) from None
        if rule is not Rule.ENDS_AFTER_START:
            raise
        raise StoppedTooEarly(member_id, at) from None
    if not updated:
        await member_exists(member_id)
        raise Conflict(
            f"no session is running for member {member_id}; start one with "
            f"POST /api/members/{member_id}/sessions/start"
        )
    return Period(updated[0]["id"], member_id, _utc(updated[0]["start_time"]), at)


async def add_period(
    adapter: Adapter,
    member_id: str,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> Period:
    """Record a finished period after the fact."""
    start, end = _moment(start, "start_time", now), _moment(end, "end_time", now)
    try:
        check_period(start, end)
    except ValueError as error:
        raise Invalid(str(error)) from None
    await adapter.lock_member_periods(member_id)
    try:
        inserted = await ActivityPeriod.insert(
            ActivityPeriod(member=member_id, start_time=start, end_time=end)
        ).returning(ActivityPeriod.id)
    except Exception as error:
        if (refusal := _refusal(adapter, error, member_id, start, end)) is None:
            raise
        raise refusal from None
    return Period(inserted[0]["id"], member_id, start, end)


def _refusal(
    adapter: Adapter, error: Exception, member_id: str, start: datetime, end: datetime | None
) -> RosterError | None:
    """The RosterError for a write the database refused by a rule; None for other errors."""
    rule = adapter.broken_rule(error)
    if rule is Rule.MEMBER_EXISTS:
        return unknown_member(member_id)
    if rule in (Rule.NO_OVERLAP, Rule.ONE_RUNNING):
        return Clash(member_id, start, end)
    if rule is Rule.CLOSED:
        return ClosedPeriod(start)
    return None


def _moment(moment: datetime | None, name: str, now: datetime | None) -> datetime:
    """`moment` checked and in UTC; `now` (default: the clock's) when it is None."""
    now = datetime.now(UTC) if now is None else now
    if moment is None:
        return now
    if moment.tzinfo is None:
        raise Invalid(f"{name} has no UTC offset; add one, e.g. Z or +05:30")
    try:
        moment = as_utc(moment)
    except ValueError as error:  # within a day of year 1 or 9999
        raise Invalid(f"{name}: {error}") from None
    if moment > now + CLOCK_SKEW:
        raise Invalid(
            f"{name} ({format_rfc3339(moment)}) is in the future; send the time it happened"
        )
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise Invalid(
            f"{name} is in the year {moment.year}; use a time between the years {FIRST_YEAR} "
            f"and {LAST_YEAR}"
        )
    return moment


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def unknown_member(member_id: str) -> NotFound:
    """The refusal for a member that does not exist, or that the caller may not see (it is
    answered the same way)."""
    return NotFound(f"no member with id {member_id}; create one with POST /api/members")


def member_uuid(text: str) -> str:
    """The canonical form of a member id, or NotFound for text that is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise NotFound(f"no member with id {text!r}; member ids are UUIDs") from None
