"""`/api/reports/*`: what the data means, for the dashboard and for anyone with read access.

Every report is computed from one snapshot and kept per data version (with an ETag and gzip,
like /fetch/); a report that counts running sessions up to now is kept for the minute.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.enums import MediaType
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Schema
from litestar.params import QueryParameter
from litestar.response import Stream

from home.api import clock
from home.api.auth import require_reader
from home.api.cache import BodyCache
from home.api.collector import collector_paused
from home.api.openapi import accepts, zone_reference
from home.api.query import TIME_TEXT, FetchQueryError, parse_time
from home.api.response import accepts_gzip, cache_headers, etag_for, matches
from home.api.schemas import ErrorResponse
from home.roster import closing, reports
from home.roster.validation import FIRST_YEAR, LAST_YEAR, check_tz
from home.storage import DataVersion, Storage
from home.storage import report_query as sql

DEFAULT_DAYS = 30
FIRST_MOMENT = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp()
LAST_MOMENT = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC).timestamp()
MAX_DAYS = 366
MAX_TOP = 1_000
CSV_HEADER = b"member_id,real_name,tz,bucket,seconds\r\n"
_encode = msgspec.json.Encoder().encode


class BucketedMember(msgspec.Struct):
    """One member's seconds active per bucket."""

    id: str
    real_name: str
    tz: str
    total_seconds: int
    buckets: dict[str, int]


class ActivityReport(msgspec.Struct):
    """Seconds active per day (`2026-11-27`) or ISO week (`2026-W48`), per member and in all."""

    ok: bool
    since: str
    until: str
    group: str
    tz: str
    members: list[BucketedMember]
    totals: dict[str, int]
    closed_until: str | None
    """Periods starting before it are closed: these figures no longer change (null: none is)."""


class ActiveMember(msgspec.Struct):
    """A member whose session runs now."""

    id: str
    real_name: str
    tz: str
    active_since: str


class ActiveReport(msgspec.Struct):
    """Members with a running session, the longest running first."""

    ok: bool
    now: str
    members: list[ActiveMember]


class ZoneCount(msgspec.Struct):
    """How many members live in a time zone."""

    tz: str
    members: int


class ZonesReport(msgspec.Struct):
    """Members per time zone, the most first."""

    ok: bool
    zones: list[ZoneCount]


class LengthBin(msgspec.Struct):
    """Sessions whose length falls in one bin."""

    label: str
    from_seconds: int
    sessions: int


class SessionsReport(msgspec.Struct):
    """How long finished sessions that started in the window lasted."""

    ok: bool
    since: str
    until: str
    bins: list[LengthBin]


class ReportService:
    """Reports kept per data version, answered with an ETag, 304 and gzip."""

    def __init__(self, storage: Storage, cache: BodyCache | None = None):
        self.storage = storage
        self.cache = BodyCache() if cache is None else cache

    async def answer(
        self,
        request: Request[Any, Any, Any],
        key: str,
        compute: Callable[[DataVersion, list[list[Any]]], bytes],
        statements: list[tuple[str, Any]],
        member_columns: tuple[int | None, ...] = (),
    ) -> Response[Any]:
        """The report `key` names: from the cache, or `compute`d from `statements` read in one
        snapshot. For an API key limited to some members, only their rows are computed from
        (`member_columns`: where each statement's rows hold the member's id)."""
        visible = visible_members(request)
        if visible is not None:
            digest = hashlib.blake2b(",".join(sorted(visible)).encode(), digest_size=8)
            key = f"{key} for {digest.hexdigest()}"
            inner = compute

            def compute(version: DataVersion, rows: list[list[Any]]) -> bytes:
                kept = [
                    statement_rows
                    if column is None
                    else [row for row in statement_rows if row[column] in visible]
                    for statement_rows, column in zip(
                        rows, [*member_columns, *[None] * len(rows)], strict=False
                    )
                ]
                return inner(version, kept)

        adapter = self.storage.adapter()
        version = await adapter.current_version()
        tag = hashlib.blake2b(key.encode(), digest_size=6).hexdigest()
        request_headers = request.headers
        gzipped = accepts_gzip(request_headers.get("accept-encoding"))
        if matches(request_headers.get("if-none-match"), version, tag):
            etag = etag_for(version, tag, gzipped)
            return Response(content=b"", status_code=304, headers=cache_headers(etag, False))
        entry = self.cache.get(version, tag)
        if entry is None:
            version, rows = await adapter.read_all(statements)
            with collector_paused():
                body = compute(version, rows)
            self.cache.put(version, tag, body)
            entry = self.cache.get(version, tag)
            if entry is None:  # a newer version arrived meanwhile, or too large to keep
                headers = cache_headers(etag_for(version, tag, False), False)
                return Response(content=body, media_type=MediaType.JSON, headers=headers)
        body = await self.cache.gzipped(version, tag, entry) if gzipped else entry.body
        headers = cache_headers(etag_for(version, tag, gzipped), gzipped)
        media = MediaType.TEXT if key.startswith("csv") else MediaType.JSON
        return Response(content=body, media_type=media, headers=headers)


def visible_members(request: Request[Any, Any, Any]) -> frozenset[str] | None:
    """The only members the request's API key may see, or None: every member (no key, a
    token, an admin session, or a key for every member)."""
    caller = getattr(request.state, "caller", None)
    return None if caller is None else caller.members


def report_window(since: str | None, until: str | None, now: float) -> tuple[float, float]:
    """The report's window in UTC seconds, or 400: since before until, at most MAX_DAYS apart."""
    try:
        end = parse_time(until, "until").timestamp() if until is not None else now
        start = parse_time(since, "since").timestamp() if since is not None else None
    except FetchQueryError as error:
        raise ClientException(detail=str(error)) from None
    start = end - DEFAULT_DAYS * 86_400 if start is None else start
    if not (start >= FIRST_MOMENT and end <= LAST_MOMENT):
        raise ClientException(
            detail=f"since and until must lie between the years {FIRST_YEAR} and {LAST_YEAR}, "
            "the times this service stores (since defaults to 30 days before until)"
        )
    if start >= end:
        raise ClientException(
            detail=f"since ({reports.utc_text(start)}) is not before until "
            f"({reports.utc_text(end)}); swap them or widen the window"
        )
    if end - start > MAX_DAYS * 86_400:
        raise ClientException(
            detail=f"the window is {(end - start) / 86_400:.0f} days long; the limit is "
            f"{MAX_DAYS} days: narrow since and until"
        )
    return start, end


def _now(request: Request[Any, Any, Any]) -> float:
    """Now, to the minute: a report that counts running sessions is kept for a minute."""
    return float(int(clock.seconds(request)) // 60 * 60)


def _zone(tz: str) -> str:
    if tz in ("member", "UTC"):
        return tz
    try:
        return check_tz(tz)
    except ValueError as error:
        raise ClientException(detail=f"{error}, or use tz=member or tz=UTC") from None


def _top(raw: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_TOP:
        raise ClientException(
            detail=f"top must be from 1 to {MAX_TOP:,} (a whole number), not {raw!r}"
        )
    return int(raw)


async def _csv(body: bytes) -> AsyncIterator[bytes]:
    view = memoryview(body)
    for offset in range(0, len(body), 256 * 1024):
        yield bytes(view[offset : offset + 256 * 1024])


def _csv_rows(report: reports.Activity) -> bytes:
    out = [CSV_HEADER]
    for member in report.members:
        name = member.real_name
        if any(character in name for character in ',"\r\n'):
            name = '"' + name.replace('"', '""') + '"'
        prefix = f"{member.id},{name},{member.tz},"
        out.extend(f"{prefix}{key},{value}\r\n".encode() for key, value in member.buckets.items())
    return b"".join(out)


ERRORS = {
    400: ResponseSpec(ErrorResponse, description="A parameter is invalid", generate_examples=False),
    401: ResponseSpec(ErrorResponse, description="A token is needed", generate_examples=False),
    503: ResponseSpec(ErrorResponse, description="The database did not answer"),
}
WINDOW_TEXT = f"since must be before until, at most {MAX_DAYS} days apart (else 400). {TIME_TEXT}"
Since = Annotated[
    str | None,
    QueryParameter(
        description=f"Default: {DEFAULT_DAYS} days before until; {WINDOW_TEXT}",
        schema_extra=accepts(format="date-time"),
    ),
]
Until = Annotated[
    str | None,
    QueryParameter(
        description=f"Default: now; {WINDOW_TEXT}", schema_extra=accepts(format="date-time")
    ),
]


class ReportsController(Controller):
    """Reports over the roster."""

    path = "/api/reports"
    tags = ["reports"]
    guards = [require_reader]
    # An API key reading them needs the scope `read` (a token or an admin session none).
    opt = {"scopes": ("read",)}

    @get("/activity", summary="Seconds active per day or week", responses=ERRORS)
    async def activity(
        self,
        request: Request[Any, Any, Any],
        since: Since = None,
        until: Until = None,
        group: Annotated[
            str,
            QueryParameter(
                description="`day` (default) or `week` (ISO weeks)",
                schema_extra=accepts(enum=list(reports.GROUPS)),
            ),
        ] = "day",
        tz: Annotated[
            str,
            QueryParameter(
                description="Whose calendar: `member` (each member's own, the default), "
                "`UTC`, or an IANA zone",
                schema_extra=accepts(
                    type=None,
                    any_of=[Schema(type="string", enum=["member", "UTC"]), zone_reference()],  # type: ignore[arg-type]
                ),
            ),
        ] = "member",
        format: Annotated[
            str,
            QueryParameter(
                description="`json` (default) or `csv`", schema_extra=accepts(enum=["json", "csv"])
            ),
        ] = "json",
        top: Annotated[
            str | None,
            QueryParameter(
                description=f"Only the N most active members (1 to {MAX_TOP:,})",
                schema_extra=accepts(type="integer", minimum=1, maximum=MAX_TOP),
            ),
        ] = None,
    ) -> ActivityReport:
        """Each member's seconds per bucket and the totals per bucket, inside the window. A
        period crossing midnight is split between its days; a running session counts up to
        now. CSV (`format=csv` or `Accept: text/csv`): `member_id,real_name,tz,bucket,seconds`."""
        now = _now(request)
        start, end = report_window(since, until, now)
        if group not in reports.GROUPS:
            raise ClientException(detail=f"group must be day or week, not {group!r}")
        zone = _zone(tz)
        if format not in ("json", "csv"):
            raise ClientException(detail=f"format must be json or csv, not {format!r}")
        if "text/csv" in request.headers.get("accept", ""):
            format = "csv"
        most = None if top is None else _top(top)
        service: ReportService = request.app.state.reports
        adapter = service.storage.adapter()
        counted_to = min(end, now)
        closed = (await closing.current()).until
        closed_until = None if closed is None else reports.utc_text(closed.timestamp())

        def compute(_version: DataVersion, rows: list[list[Any]]) -> bytes:
            members, periods = rows
            report = reports.activity(
                members,
                periods,
                since=start,
                until=end,
                now=now,
                group=group,
                tz=zone,
                scale=adapter.dialect.scale,
            )
            if format == "csv":
                return _csv_rows(report)
            listed = report.members if most is None else reports.most_active(report, most)
            return _encode(
                ActivityReport(
                    ok=True,
                    since=reports.utc_text(start),
                    until=reports.utc_text(end),
                    group=group,
                    tz=zone,
                    members=[
                        BucketedMember(m.id, m.real_name, m.tz, m.total_seconds, m.buckets)
                        for m in listed
                    ],
                    totals=report.totals,
                    closed_until=closed_until,
                )
            )

        key = f"{format} activity {start} {end} {counted_to} {group} {zone} {most} {closed_until}"
        response = await service.answer(
            request,
            key,
            compute,
            [sql.members(adapter.dialect), sql.periods(adapter.dialect, start, end)],
            member_columns=(0, 0),
        )
        if format == "csv" and response.status_code != 304:
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
            headers["Content-Disposition"] = 'attachment; filename="activity.csv"'
            # Set here: the route's own media type (JSON) would win over the Stream's.
            headers["Content-Type"] = "text/csv; charset=utf-8"
            return Stream(  # type: ignore[return-value]
                _csv(response.content),
                media_type="text/csv; charset=utf-8",
                headers=headers,
            )
        return response  # type: ignore[return-value]

    @get("/active", summary="Members with a running session now", responses=ERRORS)
    async def active(self, request: Request[Any, Any, Any]) -> ActiveReport:
        """Who is on right now, with the start of their session, the longest running first."""
        service: ReportService = request.app.state.reports
        adapter = service.storage.adapter()
        now = _now(request)

        def compute(_version: DataVersion, rows: list[list[Any]]) -> bytes:
            return _encode(
                ActiveReport(
                    ok=True,
                    now=reports.utc_text(now),
                    members=[
                        ActiveMember(
                            row[0],
                            row[1],
                            row[2],
                            reports.utc_text(adapter.dialect.scale.seconds(row[3])),
                        )
                        for row in rows[0]
                    ],
                )
            )

        return await service.answer(  # type: ignore[return-value]
            request, f"active {now}", compute, [sql.running(adapter.dialect)], member_columns=(0,)
        )

    @get("/zones", summary="Members per time zone", responses=ERRORS)
    async def zones(self, request: Request[Any, Any, Any]) -> ZonesReport:
        """How many members live in each time zone, the most first."""
        service: ReportService = request.app.state.reports
        adapter = service.storage.adapter()

        if visible_members(request) is not None:  # counted from the members the key may see

            def compute(_version: DataVersion, rows: list[list[Any]]) -> bytes:
                counts = Counter(row[2] for row in rows[0])
                ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                return _encode(ZonesReport(ok=True, zones=[ZoneCount(*item) for item in ordered]))

            return await service.answer(  # type: ignore[return-value]
                request, "zones", compute, [sql.members(adapter.dialect)], member_columns=(0,)
            )

        def compute(_version: DataVersion, rows: list[list[Any]]) -> bytes:
            return _encode(
                ZonesReport(ok=True, zones=[ZoneCount(row[0], row[1]) for row in rows[0]])
            )

        return await service.answer(  # type: ignore[return-value]
            request, "zones", compute, [sql.zones(adapter.dialect)]
        )

    @get("/sessions", summary="How long sessions last", responses=ERRORS)
    async def sessions(
        self, request: Request[Any, Any, Any], since: Since = None, until: Until = None
    ) -> SessionsReport:
        """A histogram of the lengths of finished sessions that started inside the window."""
        now = _now(request)
        start, end = report_window(since, until, now)
        service: ReportService = request.app.state.reports
        adapter = service.storage.adapter()

        def compute(_version: DataVersion, rows: list[list[Any]]) -> bytes:
            bins = reports.session_lengths(rows[0], start, end, adapter.dialect.scale)
            return _encode(
                SessionsReport(
                    ok=True,
                    since=reports.utc_text(start),
                    until=reports.utc_text(end),
                    bins=[LengthBin(label, low, count) for label, low, count in bins],
                )
            )

        return await service.answer(  # type: ignore[return-value]
            request,
            f"sessions {start} {end}",
            compute,
            [sql.periods(adapter.dialect, start, end)],
            member_columns=(0,),
        )
