"""What the API returns, as msgspec Structs (they also drive the OpenAPI schema)."""

from __future__ import annotations

import msgspec


class Period(msgspec.Struct):
    """One activity period, times in UTC as `June 05 2020 09:07`."""

    start_time: str
    end_time: str


class MemberOut(msgspec.Struct):
    """A member with their activity periods, earliest first."""

    id: str
    real_name: str
    tz: str
    activity: list[Period]


class FetchResponse(msgspec.Struct):
    """The body of `GET /fetch/`."""

    ok: bool
    members: list[MemberOut]


class ErrorResponse(msgspec.Struct):
    """Every API error: `{"ok": false, "error": "<what to change>"}`."""

    ok: bool
    error: str
