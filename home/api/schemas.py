"""What the API returns, as msgspec Structs (they also drive the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class Period(msgspec.Struct):
    """One activity period: `June 05 2020 09:07` (UTC) by default, `Feb 1 2020 1:33PM` in the
    member's own zone with `style=fullthrottle`."""

    start_time: str
    end_time: str


class MemberOut(msgspec.Struct):
    """A member with their activity periods, earliest first."""

    id: str
    real_name: str
    tz: str
    activity: list[Period]


class FullThrottleMember(msgspec.Struct):
    """A member in the original assignment's dialect (`style=fullthrottle`)."""

    id: str
    real_name: str
    tz: str
    activity_periods: list[Period]


class FetchResponse(msgspec.Struct):
    """The body of `GET /fetch/` (style=seed, the default).

    `next` is present only when `limit` is given: the cursor of the next page, or null on the
    last one.
    """

    ok: bool
    members: list[MemberOut]
    next: str | None | msgspec.UnsetType = msgspec.UNSET


class FullThrottleResponse(msgspec.Struct):
    """The body of `GET /fetch/?style=fullthrottle`, the original assignment's dialect."""

    ok: bool
    members: list[FullThrottleMember]
    next: str | None | msgspec.UnsetType = msgspec.UNSET


class ErrorResponse(msgspec.Struct):
    """Every API error: `{"ok": false, "error": "<what to change>"}`."""

    ok: bool
    error: str


DATE_TIME = msgspec.Meta(
    extra_json_schema={"format": "date-time"},
    description="RFC 3339 with a UTC offset, e.g. `2026-11-30T09:15:00+05:30`",
)


class NewMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    """A member to add."""

    real_name: str
    tz: str


class MemberCreated(msgspec.Struct):
    """A member as added."""

    id: str
    real_name: str
    tz: str


class SessionAt(msgspec.Struct, forbid_unknown_fields=True):
    """When a session starts or stops; leave `at` out for now."""

    at: Annotated[str, DATE_TIME] | None = None


class PeriodIn(msgspec.Struct, forbid_unknown_fields=True):
    """A finished period recorded after the fact."""

    start_time: Annotated[str, DATE_TIME]
    end_time: Annotated[str, DATE_TIME]


class SessionOut(msgspec.Struct):
    """A running session (`end_time` null) or a finished period, times in UTC."""

    id: int
    member_id: str
    start_time: str
    end_time: str | None


class MemberDetail(msgspec.Struct):
    """A member as /fetch/ lists it (finished periods), plus the start of the running session."""

    id: str
    real_name: str
    tz: str
    activity: list[Period]
    active_since: str | None


class FullThrottleMemberDetail(msgspec.Struct):
    """`MemberDetail` in the fullthrottle style."""

    id: str
    real_name: str
    tz: str
    activity_periods: list[Period]
    active_since: str | None
