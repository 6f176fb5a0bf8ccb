"""Piccolo Admin for the roster, built once at import time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_api.crud.hooks import Hook, HookType
from piccolo_api.rate_limiting.middleware import InMemoryLimitProvider
from starlette.exceptions import HTTPException

from home.settings import Settings, settings
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


def login_rate_limit(config: Settings) -> InMemoryLimitProvider:
    """Login attempts allowed per client address and window; a blocked client waits one window."""
    return InMemoryLimitProvider(
        limit=config.login_rate_limit,
        timespan=config.login_rate_window,
        block_duration=config.login_rate_window,
    )


def build_admin(config: Settings = settings):
    """The admin ASGI app; call once per process."""
    return create_admin(
        tables=[MEMBER_CONFIG, PERIOD_CONFIG],
        site_name=SITE_NAME,
        # Secure session cookies, and CSRF checks of Origin/Referer against allowed_hosts on HTTPS.
        production=config.production,
        allowed_hosts=list(config.allowed_hosts),
        session_expiry=config.session_expiry,
        max_session_expiry=config.session_max_expiry,
        increase_expiry=min(config.session_expiry / 3, timedelta(minutes=20)),
        rate_limit_provider=login_rate_limit(config),
        debug=False,
    )


ADMIN = build_admin()
