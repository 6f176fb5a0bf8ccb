"""`/api/members`: the systems where members log in and out record it here, with an API key."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException, PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter

from home.api import clock
from home.api.auth import require_api_key, scoped
from home.api.openapi import accepts
from home.api.query import STYLES, FetchQuery
from home.api.render import member_rows
from home.api.schemas import (
    ErrorResponse,
    FullThrottleMemberDetail,
    MemberCreated,
    MemberDetail,
    NewMemberIn,
    PeriodIn,
    SessionAt,
    SessionOut,
)
from home.api.writes import write
from home.roster import closing, sessions
from home.roster.api_keys import Caller
from home.roster.sessions import Period, RosterError
from home.roster.timefmt import format_rfc3339
from home.storage import Storage
from home.storage.roster_query import roster_statement

# RFC 3339 (a date, `T` or a space, a time with seconds, a UTC offset); fromisoformat reads it.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})$")
MAX_BODY_BYTES = 16 * 1024


def parse_rfc3339(raw: str, name: str) -> datetime:
    """An RFC 3339 time with its offset, or 400 saying how to write one."""
    if not RFC3339.match(raw):
        hint = (
            " (it has no UTC offset)" if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ][\d:.]+$", raw) else ""
        )
        raise ClientException(
            detail=f"{name} must be an RFC 3339 time with a UTC offset, e.g. "
            f"2026-11-30T09:15:00+05:30 or 2026-11-30T03:45:00Z, not {raw[:80]!r}{hint}"
        )
    try:
        return datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ClientException(detail=f"{name} is not a real time: {raw[:80]!r}") from None


def session_out(period: Period) -> SessionOut:
    """A stored period as the API answers it (times in UTC)."""
    return SessionOut(
        id=period.id,
        member_id=period.member_id,
        start_time=format_rfc3339(period.start_time),
        end_time=None if period.end_time is None else format_rfc3339(period.end_time),
    )


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    described = {
        400: "The body or a time is invalid; `error` says what to change",
        401: "The API key is missing, unknown, revoked or expired",
        403: "The API key lacks the scope this operation needs, or may not create members",
        404: "No member with this id",
        409: "It conflicts with what is stored (a running session, an overlap); `error` names it",
        413: "The body is larger than 16 KiB",
        422: "The Idempotency-Key was used before with a different request",
        429: "The API key's rate limit is used up; retry after Retry-After seconds",
        503: "The database did not answer; retry after Retry-After seconds",
    }
    return {
        status: ResponseSpec(ErrorResponse, description=described[status], generate_examples=False)
        for status in statuses
    }


WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 422, 429, 503)
MemberId = Annotated[
    str,
    PathParameter(
        description="The member's `id` (a UUID); an unknown one gets 404",
        schema_extra={"format": "uuid"},
    ),
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=255,
        description="Any unique value, e.g. a UUID: a retry with the same key and body gets "
        "the first answer again and writes nothing (keys are kept 48 hours).",
        # Printable ASCII, without the spaces HTTP strips from either end of a header value.
        schema_extra={"pattern": "^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$"},
    ),
]


class MembersController(Controller):
    """Members and their sessions, for the systems where members log in."""

    path = "/api/members"
    tags = ["sessions"]
    guards = [require_api_key]
    request_max_body_size = MAX_BODY_BYTES

    @post(
        "/",
        summary="Add a member",
        description="Needs the scope `members:write`.",
        status_code=201,
        responses=_errors(400, 401, 403, 413, 422, 429, 503),
        **scoped("members:write"),
    )
    async def create_member(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[NewMemberIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[MemberCreated]:
        """`{"real_name", "tz"}` → the member with its new `id`."""

        caller: Caller = request.state.caller
        if caller.members is not None:
            raise PermissionDeniedException(
                detail=f"the API key {caller.name!r} is limited to some members and cannot "
                "create members: use a key with the scope members:write for every member"
            )

        async def operation(_adapter: Any) -> tuple[int, MemberCreated]:
            member = await sessions.create_member(data.real_name, data.tz)
            return 201, MemberCreated(member.id, member.real_name, member.tz)

        return await write(request, operation)

    @get(
        "/{member_id:str}",
        summary="A member as /fetch/ lists it, with the running session",
        description="Needs the scope `read`.",
        responses=_errors(400, 401, 403, 404, 429, 503),
        **scoped("read"),
    )
    async def member(
        self,
        request: Request[Any, Any, Any],
        member_id: MemberId,
        style: Annotated[
            str | None,
            QueryParameter(
                description="`seed` (default) or `fullthrottle`, as for /fetch/.",
                schema_extra=accepts(enum=list(STYLES)),
            ),
        ] = None,
    ) -> MemberDetail | FullThrottleMemberDetail:
        """Finished periods in the chosen style, and `active_since`: the start of the running
        session (RFC 3339, UTC) or null."""
        if style is not None and style not in STYLES:
            raise ClientException(detail=f"style must be one of {', '.join(STYLES)}, not {style!r}")
        try:
            member_id = _visible(request, member_id)
        except RosterError as error:
            raise NotFoundException(detail=str(error)) from None
        storage: Storage = request.app.state.storage
        adapter = storage.adapter()
        query = FetchQuery(style=style or "seed", member_id=member_id)
        sql, params = roster_statement(adapter.dialect, query)
        async with adapter.snapshot(sql, params) as snapshot:
            found = await member_rows(snapshot, query, adapter.times)
        if found is None:
            raise NotFoundException(
                detail=f"no member with id {member_id}; create one with POST /api/members"
            )
        shaped, running_since = found
        active_since = None if running_since is None else format_rfc3339(running_since)
        closed = (await closing.current()).until
        closed_until = None if closed is None else format_rfc3339(closed)
        fields = msgspec.structs.asdict(shaped)
        if query.style == "fullthrottle":
            return FullThrottleMemberDetail(
                **fields, active_since=active_since, closed_until=closed_until
            )
        return MemberDetail(**fields, active_since=active_since, closed_until=closed_until)

    @post(
        "/{member_id:str}/sessions/start",
        summary="Start the member's session",
        description="Needs the scope `sessions:write`.",
        **scoped("sessions:write"),
        status_code=201,
        responses=_errors(*WRITE_ERRORS),
    )
    async def start(
        self,
        request: Request[Any, Any, Any],
        member_id: MemberId,
        data: JSONBody[SessionAt | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[SessionOut]:
        """Optional `{"at": time}` (default now) → the running session. 409 if one runs."""
        at, now = _at(data), clock.utc_now(request)

        async def operation(adapter: Any) -> tuple[int, SessionOut]:
            member = _visible(request, member_id)
            period = await sessions.start_session(adapter, member, at, now)
            return 201, session_out(period)

        return await write(request, operation)

    @post(
        "/{member_id:str}/sessions/stop",
        summary="Stop the member's running session",
        description="Needs the scope `sessions:write`.",
        **scoped("sessions:write"),
        status_code=200,
        responses=_errors(*WRITE_ERRORS),
    )
    async def stop(
        self,
        request: Request[Any, Any, Any],
        member_id: MemberId,
        data: JSONBody[SessionAt | None] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[SessionOut]:
        """Optional `{"at": time}` (default now) → the finished period. 409 if none runs."""
        at, now = _at(data), clock.utc_now(request)

        async def operation(adapter: Any) -> tuple[int, SessionOut]:
            member = _visible(request, member_id)
            period = await sessions.stop_session(adapter, member, at, now)
            return 200, session_out(period)

        return await write(request, operation)

    @post(
        "/{member_id:str}/periods",
        summary="Record a finished period after the fact",
        description="Needs the scope `sessions:write`.",
        **scoped("sessions:write"),
        status_code=201,
        responses=_errors(*WRITE_ERRORS),
    )
    async def add_period(
        self,
        request: Request[Any, Any, Any],
        member_id: MemberId,
        data: JSONBody[PeriodIn],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[SessionOut]:
        """`{"start_time", "end_time"}` → the period. 409 if it overlaps another."""
        start = parse_rfc3339(data.start_time, "start_time")
        end = parse_rfc3339(data.end_time, "end_time")
        now = clock.utc_now(request)

        async def operation(adapter: Any) -> tuple[int, SessionOut]:
            member = _visible(request, member_id)
            period = await sessions.add_period(adapter, member, start, end, now)
            return 201, session_out(period)

        return await write(request, operation)


def _visible(request: Request[Any, Any, Any], member_id: str) -> str:
    """The member's id, when the caller's key may see the member; a key limited to other
    members is answered as if the member did not exist."""
    member = sessions.member_uuid(member_id)
    caller: Caller = request.state.caller
    if not caller.may_see(member):
        raise sessions.unknown_member(member)
    return member


def _at(data: SessionAt | None) -> datetime | None:
    if data is None or data.at is None:
        return None
    return parse_rfc3339(data.at, "at")
