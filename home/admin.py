"""Piccolo Admin for the roster, built once at import time."""

from __future__ import annotations

from typing import Any

from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_api.crud.hooks import Hook, HookType
from starlette.exceptions import HTTPException

from home.tables import ActivityPeriod, Member
from home.validation import check_period, check_real_name, check_tz

SITE_NAME = "Roster Admin"


def _refuse(error: ValueError) -> HTTPException:
    return HTTPException(status_code=400, detail=str(error))


async def member_pre_save(row: Member) -> Member:
    """Refuse a new member whose name or zone is invalid."""
    try:
        check_real_name(row.real_name)
        check_tz(row.tz)
    except ValueError as error:
        raise _refuse(error) from None
    return row


async def member_pre_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """Refuse an edit that would make the member's name or zone invalid."""
    try:
        for column, value in values.items():
            name = getattr(column, "_meta").name if hasattr(column, "_meta") else column
            if name == "real_name":
                check_real_name(value)
            elif name == "tz":
                check_tz(value)
    except ValueError as error:
        raise _refuse(error) from None
    return values


async def period_pre_save(row: ActivityPeriod) -> ActivityPeriod:
    """Refuse a new period that ends before it starts."""
    try:
        check_period(row.start_time, row.end_time)
    except ValueError as error:
        raise _refuse(error) from None
    return row


async def period_pre_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """Refuse an edit that would leave the period ending before it starts."""
    current = await ActivityPeriod.select(ActivityPeriod.start_time, ActivityPeriod.end_time).where(
        ActivityPeriod.id == row_id
    ).first()
    if current is None:
        return values
    merged = dict(current)
    for column, value in values.items():
        name = column._meta.name if hasattr(column, "_meta") else column
        merged[name] = value
    try:
        check_period(merged["start_time"], merged["end_time"])
    except ValueError as error:
        raise _refuse(error) from None
    return values


MEMBER_CONFIG = TableConfig(
    Member,
    visible_columns=[Member.real_name, Member.tz],
    visible_filters=[Member.real_name, Member.tz],
    hooks=[
        Hook(hook_type=HookType.pre_save, callable=member_pre_save),
        Hook(hook_type=HookType.pre_patch, callable=member_pre_patch),
    ],
)

PERIOD_CONFIG = TableConfig(
    ActivityPeriod,
    visible_columns=[ActivityPeriod.member, ActivityPeriod.start_time, ActivityPeriod.end_time],
    visible_filters=[ActivityPeriod.member, ActivityPeriod.start_time, ActivityPeriod.end_time],
    hooks=[
        Hook(hook_type=HookType.pre_save, callable=period_pre_save),
        Hook(hook_type=HookType.pre_patch, callable=period_pre_patch),
    ],
)


def build_admin():
    """The admin ASGI app; call once per process."""
    return create_admin(tables=[MEMBER_CONFIG, PERIOD_CONFIG], site_name=SITE_NAME)


ADMIN = build_admin()
