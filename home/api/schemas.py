"""What the API returns, as msgspec Structs (they also drive the OpenAPI schema)."""

from __future__ import annotations

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
