"""`/api/closing`: up to when the books are closed, and closing them (scope `admin`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from home.api import clock
from home.api.auth import require_api_key, scoped
from home.api.members import parse_rfc3339
from home.api.schemas import DATE_TIME, ErrorResponse
from home.roster import closing
from home.roster.api_keys import Caller
from home.roster.timefmt import format_rfc3339


class CloseIn(msgspec.Struct, forbid_unknown_fields=True):
    """The instant to close the books up to (RFC 3339 with an offset, not in the future)."""

    until: Annotated[str, DATE_TIME]


class ClosingOut(msgspec.Struct):
    """Periods starting before `closed_until` can no longer be added, changed or deleted
    (null: nothing is closed); who closed them, and when."""

    ok: bool
    closed_until: str | None
    changed_at: str | None
    changed_by: str | None


def closing_out(closed: closing.Closed) -> ClosingOut:
    """The closing as the API answers it."""

    def text(moment: Any) -> str | None:
        return None if moment is None else format_rfc3339(moment)

    return ClosingOut(True, text(closed.until), text(closed.changed_at), closed.changed_by)


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    described = {
        400: "until is not a time with an offset, or is in the future",
        401: "The API key is missing, unknown, revoked or expired",
        403: "The API key lacks the scope this operation needs",
        409: "The closing cannot move there: it would reopen periods, or a session started "
        "before it still runs",
        429: "The API key's rate limit is used up; retry after Retry-After seconds",
        503: "The database did not answer; retry after Retry-After seconds",
    }
    return {
        status: ResponseSpec(ErrorResponse, description=described[status], generate_examples=False)
        for status in statuses
    }


class ClosingController(Controller):
    """Closed periods: after payroll has been run from them, nobody changes them."""

    path = "/api/closing"
    tags = ["closing"]
    guards = [require_api_key]

    @get(
        "/",
        summary="Up to when periods are closed",
        description="Needs the scope `read`.",
        responses=_errors(401, 403, 429, 503),
        **scoped("read"),
    )
    async def current(self) -> ClosingOut:
        """`closed_until`: periods starting before it are closed (null: none is)."""
        return closing_out(await closing.current())

    @post(
        "/",
        summary="Close the periods before an instant",
        description="Needs the scope `admin`. Moving the closing back (reopening) is for "
        "superusers, in the admin.",
        status_code=200,
        responses=_errors(400, 401, 403, 409, 429, 503),
        **scoped("admin"),
    )
    async def close(self, request: Request[Any, Any, Any], data: JSONBody[CloseIn]) -> ClosingOut:
        """`{"until": time}`: from now on, no period starting before it may be added, changed
        or deleted, by anyone (the database refuses it), nor a member who has one deleted."""
        caller: Caller = request.state.caller
        until = parse_rfc3339(data.until, "until")
        try:
            closed = await closing.close(
                request.app.state.storage.adapter(), until, caller.actor, clock.utc_now(request)
            )
        except closing.ClosingError as error:
            status = 409 if isinstance(error, closing.ClosingConflict) else 400
            raise HTTPException(status_code=status, detail=str(error)) from None
        return closing_out(closed)
