"""Recording activity as it happens: members, running sessions, finished periods.

Each operation runs inside the caller's write transaction (`Adapter.audited`) and either
completes or raises a `RosterError` that says what to change; the database's own rules
(no overlap, one running session) back up the checks made here, so two requests racing for
the same member cannot both win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from home.roster.tables import ActivityPeriod, Member
from home.roster.timefmt import format_rfc3339
from home.roster.validation import (
    FIRST_YEAR,
    LAST_YEAR,
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


class Invalid(RosterError):
    """The request's values break a rule."""


class NotFound(RosterError):
    """No such member."""

    status = 404


class Conflict(RosterError):
    """The request conflicts with what is stored (a running session, an overlap)."""

    status = 409


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
        raise NotFound(f"no member with id {member_id}; create one with POST /api/members")


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
    adapter: Adapter, transaction: Any, member_id: str, at: datetime | None
) -> Period:
    """Start the member's session at `at` (default now)."""
    at = _moment(at, "at")
    await member_exists(member_id)
    await _refuse_clash(member_id, at, None)
    inserted = await _write(
        adapter,
        transaction,
        lambda: ActivityPeriod.insert(
            ActivityPeriod(member=member_id, start_time=at, end_time=None)
        ).returning(ActivityPeriod.id),
        member_id,
        at,
        None,
    )
    return Period(inserted[0]["id"], member_id, at, None)


async def stop_session(
    adapter: Adapter, transaction: Any, member_id: str, at: datetime | None
) -> Period:
    """Stop the member's running session at `at` (default now)."""
    at = _moment(at, "at")
    await member_exists(member_id)
    running = await running_session(member_id)
    if running is None:
        raise Conflict(
            f"no session is running for member {member_id}; start one with "
            f"POST /api/members/{member_id}/sessions/start"
        )
    if at < running.start_time:
        raise Invalid(
            f"at ({format_rfc3339(at)}) is before the running session started "
            f"({format_rfc3339(running.start_time)}); a session ends at or after its start"
        )
    updated = await (
        ActivityPeriod.update({ActivityPeriod.end_time: at})
        .where(ActivityPeriod.id == running.id, ActivityPeriod.end_time.is_null())
        .returning(ActivityPeriod.id)
    )
    if not updated:  # another request stopped it first
        raise Conflict(f"no session is running for member {member_id}; it was just stopped")
    return Period(running.id, member_id, running.start_time, at)


async def add_period(
    adapter: Adapter, transaction: Any, member_id: str, start: datetime, end: datetime
) -> Period:
    """Record a finished period after the fact."""
    start, end = _moment(start, "start_time"), _moment(end, "end_time")
    try:
        check_period(start, end)
    except ValueError as error:
        raise Invalid(str(error)) from None
    await member_exists(member_id)
    await _refuse_clash(member_id, start, end)
    inserted = await _write(
        adapter,
        transaction,
        lambda: ActivityPeriod.insert(
            ActivityPeriod(member=member_id, start_time=start, end_time=end)
        ).returning(ActivityPeriod.id),
        member_id,
        start,
        end,
    )
    return Period(inserted[0]["id"], member_id, start, end)


async def _refuse_clash(member_id: str, start: datetime, end: datetime | None) -> None:
    clash = await overlapping(member_id, start, end)
    if not clash:
        return
    running = next((period for period in clash if period.end_time is None), None)
    if end is None and running is not None:
        raise Conflict(
            f"a session is already running for member {member_id}: {describe(running)}; "
            "stop it first"
        )
    what = "the session" if end is None else "the period"
    raise Conflict(
        f"{what} would overlap {', '.join(describe(period) for period in clash)}; "
        "a member's periods never overlap (one may start exactly when another ends)"
    )


async def _write(
    adapter: Adapter,
    transaction: Any,
    statement: Any,
    member_id: str,
    start: datetime,
    end: datetime | None,
) -> Any:
    """Run `statement()`; a rule the database refused it for becomes a Conflict."""
    savepoint = await transaction.savepoint()
    try:
        result = await statement()
    except Exception as error:
        if adapter.broken_rule(error) not in (Rule.NO_OVERLAP, Rule.ONE_RUNNING):
            raise
        # Another request won a race the checks above could not see: say what it wrote.
        await savepoint.rollback_to()
        await _refuse_clash(member_id, start, end)
        raise Conflict(f"the period conflicts with another write for member {member_id}") from None
    await savepoint.release()
    return result


def _moment(moment: datetime | None, name: str) -> datetime:
    now = datetime.now(UTC)
    if moment is None:
        return now
    if moment.tzinfo is None:
        raise Invalid(f"{name} has no UTC offset; add one, e.g. Z or +05:30")
    moment = moment.astimezone(UTC)
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


def member_uuid(text: str) -> str:
    """The canonical form of a member id, or NotFound for text that is not a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise NotFound(f"no member with id {text!r}; member ids are UUIDs") from None
