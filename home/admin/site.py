"""Piccolo Admin for the roster: the tables as the admin shows them, their hooks, the site.

The admin edits the same two tables as the rest of the service, seen through admin-only
subclasses: `AdminMember` offers the time zone as a list of valid zones, and
`AdminActivityPeriod` shows the database-computed `duration` column (see the migration
`computed activity_period.duration`), which the app's own tables never write. Logins go
through `AdminUser`, which admits only active admin users.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import piccolo_admin.endpoints
from piccolo.apps.user.tables import BaseUser
from piccolo.columns import ForeignKey, Interval, OnDelete, Timestamptz, Varchar
from piccolo.columns.choices import Choice
from piccolo.table import Table
from piccolo_admin.endpoints import TableConfig, create_admin
from piccolo_api.crud.endpoints import OrderBy, PiccoloCRUD
from piccolo_api.crud.hooks import Hook, HookType
from piccolo_api.crud.validators import Validators
from starlette.exceptions import HTTPException
from starlette.requests import Request

from home.admin.forms import demo_members_form
from home.roster.tables import NAME_MAX_LENGTH, TZ_MAX_LENGTH, ActivityPeriod, Member
from home.roster.validation import as_utc, check_period, check_real_name, check_tz, known_zones
from home.settings import Settings
from home.storage import Storage
from home.storage.login_attempts import login_limit

SITE_NAME = "Roster Admin"
MENU_GROUP = "Roster"
FORM_NAME_LENGTH = 10 * NAME_MAX_LENGTH

# Piccolo Admin renders a column with `choices` as a drop-down, in the form and in the filter.
TimeZone = Enum(  # type: ignore[misc]
    "TimeZone", [(zone, Choice(value=zone, display_name=zone)) for zone in sorted(known_zones())]
)


class AdminMember(Member, tablename="member"):
    """The member table as the admin shows it: the zone is picked from the known zones."""

    # Wider than the stored column on purpose: Piccolo would refuse a long name with pydantic's
    # raw error text; letting it through to `member_pre_save` gives the form our own message.
    real_name = Varchar(length=FORM_NAME_LENGTH, null=False, index=True)
    tz = Varchar(
        length=TZ_MAX_LENGTH,
        null=False,
        choices=TimeZone,
        help_text="An IANA time zone, e.g. Asia/Kolkata.",
    )


class AdminActivityPeriod(ActivityPeriod, tablename="activity_period"):
    """The period table as the admin shows it, with the database-computed duration."""

    member = ForeignKey(references=AdminMember, null=False, on_delete=OnDelete.cascade, index=True)
    start_time = Timestamptz(
        null=False,
        help_text="When the member logged in; give the zone the time is in (stored in UTC).",
    )
    end_time = Timestamptz(
        null=False, help_text="When the member logged out; not before the start."
    )
    duration = Interval(
        null=True,
        default=None,
        help_text="Worked out by the database from start and end; a value typed here is ignored.",
    )


class AdminUser(BaseUser, tablename="piccolo_user"):
    """Piccolo's user table, with a login that only admits active users with the admin flag.

    Piccolo's own login checks the password alone, so anyone with an account would get a
    session that every admin endpoint then refuses: a person would be logged in to nothing.
    Refused here, the login form says the login failed and no session is made.
    """

    @classmethod
    async def login(cls, username: str, password: str) -> int | None:
        # The password is checked first, for every user, so timings do not tell who is an admin.
        user_id = await super().login(username=username, password=password)
        if user_id is None:
            return None
        flags = await cls.select(cls.admin, cls.active).where(cls.id == user_id).first()
        if flags and flags["admin"] and flags["active"]:
            return user_id
        return None


ADMIN_TABLES = (AdminMember, AdminActivityPeriod, AdminUser)


def _refuse(column: str, error: ValueError) -> HTTPException:
    """A 422 the admin's form shows as `<column> field - <message>`, like its own validation."""
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["body", column], "msg": str(error), "type": "value_error"}],
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
                raise _refuse(column, error) from None


async def period_pre_save(row: AdminActivityPeriod) -> ActivityPeriod:
    """Refuse a new period that ends before it starts; save it without the computed duration."""
    start_time, end_time = _utc("start_time", row.start_time), _utc("end_time", row.end_time)
    _check_period(start_time, end_time)
    return ActivityPeriod(member=row.member, start_time=start_time, end_time=end_time)


async def period_pre_patch(row_id: Any, values: dict[Any, Any]) -> dict[Any, Any]:
    """Refuse an edit that would leave the period ending before it starts."""
    values = await _patchable(ActivityPeriod, row_id, values, computed="duration")
    values = {
        column: _utc(_name(column), value) if _name(column) in ("start_time", "end_time") else value
        for column, value in values.items()
    }
    current = (
        await ActivityPeriod.select(ActivityPeriod.start_time, ActivityPeriod.end_time)
        .where(ActivityPeriod.id == row_id)
        .first()
    )
    if current is not None:
        merged = {**current, **{_name(column): value for column, value in values.items()}}
        _check_period(merged["start_time"], merged["end_time"])
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
        raise _refuse("id", ValueError("id cannot be changed; create a new row instead"))
    values = {column: value for column, value in values.items() if _name(column) != computed}
    if not values:
        if computed in names:
            message = f"{computed} is worked out by the database; change the times instead"
            raise _refuse(computed, ValueError(message))
        raise _refuse("body", ValueError("nothing to change; send at least one column"))
    if not await table.exists().where(table._meta.primary_key == row_id):
        raise HTTPException(status_code=404, detail=f"no {table._meta.tablename} with id {row_id}")
    return values


def _utc(column: str, moment: Any) -> Any:
    """The time in UTC (one without an offset is taken as UTC, as /fetch/ does)."""
    if not isinstance(moment, datetime):
        return moment  # None: the column's own NOT NULL answers
    try:
        return as_utc(moment)
    except ValueError as error:
        raise _refuse(column, error) from None


def _check_period(start_time: Any, end_time: Any) -> None:
    if start_time is None or end_time is None:
        return  # The column's own NOT NULL refuses this with its own message.
    try:
        check_period(start_time, end_time)
    except ValueError as error:
        raise _refuse("end_time", error) from None


async def refuse_put(piccolo_crud: PiccoloCRUD, request: Request) -> None:
    """PUT skips Piccolo's hooks, so only PATCH (what the admin UI sends) may change rows."""
    raise HTTPException(status_code=405, detail="Use PATCH to change a row; PUT is not supported.")


MEMBER_CONFIG = TableConfig(
    AdminMember,
    visible_columns=[AdminMember.real_name, AdminMember.tz],
    visible_filters=[AdminMember.real_name, AdminMember.tz],
    link_column=AdminMember.real_name,
    order_by=[OrderBy(AdminMember.real_name), OrderBy(AdminMember.id)],
    menu_group=MENU_GROUP,
    hooks=[
        Hook(hook_type=HookType.pre_save, callable=member_pre_save),
        Hook(hook_type=HookType.pre_patch, callable=member_pre_patch),
    ],
    validators=Validators(put_single=[refuse_put]),
)

PERIOD_CONFIG = TableConfig(
    AdminActivityPeriod,
    visible_columns=[
        AdminActivityPeriod.member,
        AdminActivityPeriod.start_time,
        AdminActivityPeriod.end_time,
        AdminActivityPeriod.duration,
    ],
    visible_filters=[
        AdminActivityPeriod.member,
        AdminActivityPeriod.start_time,
        AdminActivityPeriod.end_time,
    ],
    link_column=AdminActivityPeriod.start_time,
    order_by=[OrderBy(AdminActivityPeriod.start_time, ascending=False)],
    time_resolution={AdminActivityPeriod.start_time: 60, AdminActivityPeriod.end_time: 60},
    menu_group=MENU_GROUP,
    hooks=[
        Hook(hook_type=HookType.pre_save, callable=period_pre_save),
        Hook(hook_type=HookType.pre_patch, callable=period_pre_patch),
    ],
    validators=Validators(put_single=[refuse_put]),
)


class RosterCRUD(PiccoloCRUD):
    """Piccolo's table API, keeping the text "null" in columns that cannot be NULL.

    piccolo_api turns any "null" string into None (its UI's way to clear a nullable field),
    so a member really named "Null" was refused as empty. A non-nullable column has no NULL
    to mean, so there the text stays text.
    """

    def _clean_data(self, data: dict[str, Any]) -> dict[str, Any]:
        cleaned = super()._clean_data(data)
        required = {
            column._meta.name for column in self.table._meta.columns if not column._meta.null
        }
        for key, value in data.items():
            if key in required and isinstance(value, str) and cleaned.get(key) is None:
                cleaned[key] = value
        return cleaned


# create_admin builds one PiccoloCRUD per table and has no option to choose the class.
piccolo_admin.endpoints.PiccoloCRUD = RosterCRUD  # type: ignore[misc]


def csrf_hosts(config: Settings) -> list[str]:
    """ALLOWED_HOSTS as Piccolo's CSRF check compares them: the host of Origin or Referer,
    where an IPv6 address has no brackets."""
    return [host.strip("[]") for host in config.allowed_hosts]


def build_admin(config: Settings, storage: Storage):
    """The admin ASGI app for these settings; built once per app."""
    return create_admin(
        tables=[MEMBER_CONFIG, PERIOD_CONFIG],
        forms=[demo_members_form(storage)],
        site_name=SITE_NAME,
        auth_table=AdminUser,
        # Secure session cookies, and CSRF checks of Origin/Referer against allowed_hosts on HTTPS.
        production=config.production,
        allowed_hosts=csrf_hosts(config),
        session_expiry=config.session_expiry,
        max_session_expiry=config.session_max_expiry,
        increase_expiry=min(config.session_expiry / 3, timedelta(minutes=20)),
        rate_limit_provider=login_limit(config),
        debug=False,
    )
