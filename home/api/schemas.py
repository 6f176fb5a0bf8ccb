"""What the API returns, as msgspec Structs (they also drive the OpenAPI schema).

The structs of the roster document are made by the hundred thousand per render and never
form a cycle, so Python's cyclic collector does not track them (`gc=False`).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from home.api.openapi import zone_reference
from home.roster.tables import NAME_MAX_LENGTH


class Period(msgspec.Struct, gc=False):
    """One activity period: `June 05 2020 09:07` (UTC) by default, `Feb 1 2020 1:33PM` in the
    member's own zone with `style=fullthrottle`."""

    start_time: str
    end_time: str


class MemberOut(msgspec.Struct, gc=False):
    """A member with their activity periods, earliest first."""

    id: str
    real_name: str
    tz: str
    activity: list[Period]


class FullThrottleMember(msgspec.Struct, gc=False):
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


# Published without msgspec enforcing it (`extra` is only documented), so that a refusal is
# explained in our words by home.roster.validation and home.roster.sessions.
DATE_TIME = msgspec.Meta(
    extra_json_schema={"extra": {"format": "date-time"}},
    description="RFC 3339 with a UTC offset, e.g. `2026-11-30T09:15:00+05:30`; between the "
    "years 1900 and 2999 (UTC) and not in the future",
)
REAL_NAME = msgspec.Meta(
    extra_json_schema={
        "extra": {
            "min_length": 1,
            "max_length": NAME_MAX_LENGTH,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$",
        }
    },
    description=f"1 to {NAME_MAX_LENGTH} characters, not only spaces, without NUL",
)
TIME_ZONE = msgspec.Meta(
    extra_json_schema={"extra": {"all_of": [{"$ref": zone_reference().ref}]}},
    description="An IANA time zone, e.g. `Europe/London`",
)


class NewMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    """A member to add."""

    real_name: Annotated[str, REAL_NAME]
    tz: Annotated[str, TIME_ZONE]


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
    """A member as /fetch/ lists it (finished periods), plus the start of the running session,
    and up to when periods are closed (null: none is)."""

    id: str
    real_name: str
    tz: str
    activity: list[Period]
    active_since: str | None
    closed_until: str | None


class FullThrottleMemberDetail(msgspec.Struct):
    """`MemberDetail` in the fullthrottle style."""

    id: str
    real_name: str
    tz: str
    activity_periods: list[Period]
    active_since: str | None
    closed_until: str | None
