"""The rules every admin write obeys, as Piccolo Admin hooks and validators: the same rules as
the rest of the service (`home.roster`), refused with a message the admin's form shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.table import Table
from piccolo_api.crud.endpoints import PiccoloCRUD
from starlette.exceptions import HTTPException
from starlette.requests import Request

from home.admin.tables import AdminActivityPeriod, AdminMember
from home.roster.sessions import describe, overlapping
from home.roster.tables import ActivityPeriod, Member
from home.roster.validation import as_utc, check_period, check_real_name, check_tz


def refuse(column: str, message: str) -> HTTPException:
    """A 422 the admin's form shows as `<column> field - <message>`, like its own validation."""
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["body", column], "msg": message, "type": "value_error"}],
    )


def _name(column: Any) -> str:
    return column._meta.name if hasattr(column, "_meta") else str(column)


async def member_pre_save(row: AdminMember) -> AdminMember:
    """Refuse a new member whose name or zone is invalid."""
    _check_member({"real_name": row.real_name, "tz": row.tz})
    return row


async def member_pre_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """Refuse an edit that would make the member's name or zone invalid."""
    values = await _patchable(Member, row_id, values)
    _check_member({_name(column): value for column, value in values.items()})
    return values


def _check_member(values: dict[str, Any]) -> None:
    checks = {"real_name": check_real_name, "tz": check_tz}
    for column, check in checks.items():
        if column in values:
            try:
                check(values[column])
            except ValueError as error:
                raise refuse(column, str(error)) from None


async def period_pre_save(row: AdminActivityPeriod) -> ActivityPeriod:
    """Refuse a new period that ends before it starts or overlaps another of the member's;
    save it without the computed duration."""
    start_time, end_time = _utc("start_time", row.start_time), _utc("end_time", row.end_time)
    await _check_period(row.member, start_time, end_time)
    return ActivityPeriod(member=row.member, start_time=start_time, end_time=end_time)


async def period_pre_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """Refuse an edit that would leave the period ending before it starts, or overlapping."""
    values = await _patchable(ActivityPeriod, row_id, values, computed="duration")
    values = {
        column: _utc(_name(column), value) if _name(column) in ("start_time", "end_time") else value
        for column, value in values.items()
    }
    current = (
        await ActivityPeriod.select(
            ActivityPeriod.member, ActivityPeriod.start_time, ActivityPeriod.end_time
        )
        .where(ActivityPeriod.id == row_id)
        .first()
    )
    if current is not None:
        merged = {**current, **{_name(column): value for column, value in values.items()}}
        await _check_period(
            merged["member"], merged["start_time"], merged["end_time"], exclude=row_id
        )
    return values


async def _patchable(
    table: type[Table], row_id: Any, values: dict[Any, Any], computed: str | None = None
) -> dict[Any, Any]:
    """The columns a PATCH may change; 422 for the id or an empty change, 404 for no row.

    Piccolo would otherwise change the primary key (answering 500 after doing it), or fail
    with a 500 on an update that sets nothing.
    """
    names = {_name(column) for column in values}
    if "id" in names:
        raise refuse("id", "id cannot be changed; create a new row instead")
    values = {column: value for column, value in values.items() if _name(column) != computed}
    if not values:
        if computed in names:
            raise refuse(
                computed, f"{computed} is worked out by the database; change the times instead"
            )
        raise refuse("body", "nothing to change; send at least one column")
    if not await table.exists().where(table._meta.primary_key == row_id):
        raise HTTPException(status_code=404, detail=f"no {table._meta.tablename} with id {row_id}")
    return values


def _utc(column: str, moment: Any) -> Any:
    """The time in UTC (one without an offset is taken as UTC, as /fetch/ does)."""
    if not isinstance(moment, datetime):
        return moment  # None: the column's own NOT NULL answers, or a session that runs
    try:
        return as_utc(moment)
    except ValueError as error:
        raise refuse(column, str(error)) from None


async def _check_period(member: Any, start_time: Any, end_time: Any, exclude: Any = None) -> None:
    if member is None or start_time is None:
        return  # The column's own NOT NULL refuses this with its own message.
    try:
        check_period(start_time, start_time if end_time is None else end_time)
    except ValueError as error:
        raise refuse("end_time", str(error)) from None
    clash = await overlapping(member, start_time, end_time, exclude=exclude)
    if clash:
        running = end_time is None and any(period.end_time is None for period in clash)
        if running:
            message = (
                "this member already has a running session, "
                f"{describe(next(p for p in clash if p.end_time is None))}; give this one an "
                "end, or end that one first"
            )
        else:
            message = (
                f"the period overlaps {', '.join(describe(period) for period in clash)}; a "
                "member's periods never overlap (one may start exactly when another ends)"
            )
        raise refuse("start_time", message)


async def refuse_put(piccolo_crud: PiccoloCRUD, request: Request) -> None:
    """PUT skips Piccolo's hooks, so only PATCH (what the admin UI sends) may change rows."""
    raise HTTPException(status_code=405, detail="Use PATCH to change a row; PUT is not supported.")


async def read_only(piccolo_crud: PiccoloCRUD, request: Request) -> None:
    """Refuse any write to a table the admin only shows."""
    table = piccolo_crud.table._meta.tablename
    hints = {
        "api_key": "make and revoke API keys with Forms: Create API key, Revoke API key",
        "closing": "close periods with Forms: Close periods (reopening: Reopen closed periods)",
        "webhook_endpoint": "use Forms: Register webhook endpoint, Change webhook endpoint",
    }
    hint = hints.get(table, "it is written by the database as things change")
    raise HTTPException(status_code=405, detail=f"{table} is read-only here: {hint}.")
