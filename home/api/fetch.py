"""`GET /fetch/` and `HEAD /fetch/`: the roster as JSON."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, head
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Parameter

from home.api.auth import require_fetch_token
from home.api.openapi import accepts, zone_reference
from home.api.query import (
    CURSOR_MAX_LENGTH,
    CURSOR_PATTERN,
    MAX_LIMIT,
    NO_NUL_PATTERN,
    STYLES,
    TIME_TEXT,
    FetchQuery,
    FetchQueryError,
    parse_fetch_query,
)
from home.api.response import VERSION_READ, FetchService, conditional_headers
from home.api.schemas import ErrorResponse, FetchResponse, FullThrottleResponse
from home.roster.tables import NAME_MAX_LENGTH

FETCH_DESCRIPTION = f"""
Members ordered by `real_name` (byte order) then `id`, each with their activity periods
ordered by start time.

**Styles.** `style=seed` (the default) is the seed document: key `activity`, times in UTC
written `June 05 2020 09:07`. `style=fullthrottle` is the original assignment's dialect:
key `activity_periods`, times in the member's own zone (daylight saving respected) written
`Feb 1 2020 1:33PM`. Without any parameter the body is exactly `{{"ok": true, "members": [...]}}`.

**Paging.** `limit` (1 to {MAX_LIMIT:,}) returns one page plus `next`, an opaque cursor for
the following page (`null` on the last). Pass it back as `cursor` with the same `limit` and
filters; following `next` visits every member once, even while members are added.

**Freshness.** Every response carries an `ETag`; send it back in `If-None-Match` to get
`304 Not Modified` until the data changes. Any committed change is visible on the next request.
Bodies are gzip-compressed when `Accept-Encoding` allows it.
"""


_MEMBER = {"id": "a23a4474-32f5-42fe-8f82-ab495500ecf9", "real_name": "Egon Spengler"}
SEED_EXAMPLE = {
    "ok": True,
    "members": [
        {
            **_MEMBER,
            "tz": "America/Los_Angeles",
            "activity": [
                {"start_time": "February 01 2020 21:33", "end_time": "February 01 2020 22:54"}
            ],
        }
    ],
}
FULLTHROTTLE_EXAMPLE = {
    "ok": True,
    "members": [
        {
            **_MEMBER,
            "tz": "America/Los_Angeles",
            "activity_periods": [
                {"start_time": "Feb 1 2020 1:33PM", "end_time": "Feb 1 2020 2:54PM"}
            ],
        }
    ],
}


def _error_spec(description: str) -> ResponseSpec:
    return ResponseSpec(ErrorResponse, description=description, generate_examples=False)


class FetchController(Controller):
    """`GET /fetch/`: every member with their activity periods."""

    path = "/fetch"
    tags = ["roster"]
    guards = [require_fetch_token]

    @get(
        "/",
        summary="Members with their activity periods",
        description=FETCH_DESCRIPTION,
        responses={
            200: ResponseSpec(
                data_container=FetchResponse | FullThrottleResponse,
                description="FetchResponse for style=seed (default), FullThrottleResponse for "
                "style=fullthrottle",
                generate_examples=False,
                examples=[
                    Example(summary="style=seed (default)", value=SEED_EXAMPLE),
                    Example(summary="style=fullthrottle", value=FULLTHROTTLE_EXAMPLE),
                ],
            ),
            304: ResponseSpec(data_container=None, description="The If-None-Match tag is current"),
            400: _error_spec("A parameter is invalid; `error` says how to fix it"),
            401: _error_spec("FETCH_TOKEN is set and the bearer token is missing or wrong"),
            503: _error_spec("The database did not answer; retry after Retry-After seconds"),
        },
        # The body is compressed here, once per data version; a compression middleware must skip it.
        opt={"skip_compression": True},
    )
    async def list_members(
        self,
        request: Request[Any, Any, Any],
        style: str | None = Parameter(
            default=None,
            description="`seed` (default): UTC, `June 05 2020 09:07`, key `activity`. "
            "`fullthrottle`: member's zone, `Feb 1 2020 1:33PM`, key `activity_periods`.",
            schema_extra=accepts(enum=list(STYLES)),
        ),
        limit: str | None = Parameter(
            default=None,
            description=f"Page size, a whole number from 1 to {MAX_LIMIT:,}; adds `next` to "
            "the body.",
            schema_extra=accepts(type="integer", minimum=1, maximum=MAX_LIMIT),
        ),
        cursor: str | None = Parameter(
            default=None,
            description="The `next` value of the previous page, unchanged (needs `limit`); "
            "a value this API did not issue gets 400.",
            schema_extra=accepts(
                format="cursor", pattern=CURSOR_PATTERN, max_length=CURSOR_MAX_LENGTH
            ),
        ),
        tz: str | None = Parameter(
            default=None,
            description="Only members in this IANA zone, e.g. `Asia/Kolkata`.",
            schema_extra=accepts(type=None, all_of=[zone_reference()]),
        ),
        name: str | None = Parameter(
            default=None,
            description="Only members whose real_name contains this text, ignoring case.",
            schema_extra=accepts(min_length=1, max_length=NAME_MAX_LENGTH, pattern=NO_NUL_PATTERN),
        ),
        since: str | None = Parameter(
            default=None,
            description="Only periods ending at or after this time; members with none are "
            f"left out. {TIME_TEXT}",
            schema_extra=accepts(format="date-time"),
        ),
        until: str | None = Parameter(
            default=None,
            description="Only periods starting at or before this time; members with none are "
            f"left out. {TIME_TEXT}",
            schema_extra=accepts(format="date-time"),
        ),
    ) -> Response[FetchResponse]:
        """All members (or one page), filtered and styled as asked; cached per data version."""
        _refuse_repeated(request)
        query = _query(style, limit, cursor, tz, name, since, until)
        service: FetchService = request.app.state.fetch
        service.learn(request.scope, query)
        return await service.get(
            query, *conditional_headers(request.scope), request.scope.get(VERSION_READ)
        )

    @head(
        "/",
        summary="The current ETag of /fetch/, without the body",
        description="Takes the same parameters as GET; answers 304 when If-None-Match is current. "
        "A cheap way to poll for changes.",
        responses={
            304: ResponseSpec(data_container=None, description="The If-None-Match tag is current"),
            400: _error_spec("A parameter is invalid; `error` says how to fix it"),
        },
    )
    async def members_head(self, request: Request[Any, Any, Any]) -> Response[None]:
        """Headers GET would send (ETag, Vary, Content-Type), or 304; no body, no render."""
        _refuse_repeated(request)
        params = request.query_params
        query = _query(*(params.get(key) for key in QUERY_KEYS))
        service: FetchService = request.app.state.fetch
        return await service.head(query, *conditional_headers(request.scope))


QUERY_KEYS = ("style", "limit", "cursor", "tz", "name", "since", "until")


def _refuse_repeated(request: Request[Any, Any, Any]) -> None:
    """400 for a parameter given twice: which one counts is not for the server to guess."""
    if not request.scope.get("query_string"):
        return
    params = request.query_params
    for key in QUERY_KEYS:
        given = len(params.getall(key, []))
        if given > 1:
            raise ClientException(detail=f"{key} is given {given} times; give it once")


def _query(*raw: str | None) -> FetchQuery:
    try:
        return parse_fetch_query(*raw)
    except FetchQueryError as error:
        raise ClientException(detail=str(error)) from None


class PublicFetchController(FetchController):
    """/fetch/ when no FETCH_TOKEN is set: no guard at all, since Litestar copies the route
    handler for every guard it runs, on every request."""

    guards = []
