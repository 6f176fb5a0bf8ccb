"""`POST /api/imports` (a CSV export of another tracker, or the roster's) and `GET /api/export`
(the roster as a zip): home/transfer does the work; these take the body in and the zip out."""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream

from home.api import clock
from home.api.auth import require_api_key, require_key_or_admin, scoped
from home.api.schemas import ErrorResponse
from home.roster.api_keys import Caller
from home.storage import Storage
from home.transfer.export import read_snapshot, zip_bytes_into
from home.transfer.imports import ImportRefused, import_roster
from home.web.limits import MAX_IMPORT_BYTES

# A body up to this size stays in memory while it is read; a larger one goes to a file.
SPOOL_BYTES = 8 * 1024 * 1024
CHUNK = 256 * 1024


def _errors(*statuses: int) -> dict[int, ResponseSpec]:
    described = {
        400: "The file, or some of its rows, cannot be imported: every bad row is listed by "
        "its line, and nothing was written",
        401: "The API key is missing, unknown, revoked or expired",
        403: "The API key lacks a scope this operation needs, or is limited to some members",
        413: "The body is larger than the limit",
        429: "The API key's rate limit is used up; retry after Retry-After seconds",
        503: "The database did not answer; retry after Retry-After seconds",
    }
    return {
        status: ResponseSpec(ErrorResponse, description=described[status], generate_examples=False)
        for status in statuses
    }


def _whole_roster(request: Request[Any, Any, Any], what: str) -> None:
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is not None and caller.members is not None:
        raise PermissionDeniedException(
            detail=f"the API key {caller.name!r} is limited to some members and cannot {what}: "
            "use a key for every member"
        )


class ImportsController(Controller):
    """Imports of periods, all or nothing."""

    path = "/api/imports"
    tags = ["imports"]
    guards = [require_api_key]
    request_max_body_size = MAX_IMPORT_BYTES

    @post(
        "/",
        summary="Import periods from a CSV export",
        description="Needs the scopes `members:write` and `sessions:write`. The body is a Toggl "
        "Track or Clockify detailed CSV export, or the roster's own periods.csv (`text/csv`, "
        "UTF-8). People are matched to members by name (exactly, then ignoring case and "
        "surrounding spaces); unknown people become members in `tz`. Any bad row imports "
        "nothing: the answer lists every bad row by its line. 201 once imported, 200 for a "
        "dry run; both answer with the summary.",
        status_code=201,
        responses=_errors(400, 401, 403, 413, 429, 503),
        **scoped("members:write", "sessions:write"),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        format: str = Parameter(default="auto", description="auto, toggl, clockify or roster"),
        tz: str | None = Parameter(
            default=None, description="The zone of the file's times (default: each member's)"
        ),
        date_order: str | None = Parameter(
            default=None, description="dmy or mdy, for dates that read either way"
        ),
        dry_run: bool = Parameter(
            default=False, description="Say what would happen; write nothing"
        ),
        name: str = Parameter(default="upload.csv", description="The file's name, for the audit"),
    ) -> Response[dict[str, Any]]:
        """The import's summary: who was matched, who was created, how many periods each."""
        _whole_roster(request, "import")
        caller: Caller = request.state.caller
        storage: Storage = request.app.state.storage
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            async for chunk in request.stream():
                spool.write(chunk)
            spool.seek(0)
            text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
            try:
                summary = await import_roster(
                    storage.adapter(),
                    text,
                    source=name[:200],
                    fmt=format,
                    tz=tz,
                    date_order=date_order,
                    dry_run=dry_run,
                    actor=caller.actor,
                )
            except ImportRefused as error:
                raise HTTPException(
                    status_code=400,
                    detail=str(error),
                    extra={
                        "bad_rows": [
                            {"line": bad.line, "file": bad.source or name, "problem": bad.problem}
                            for bad in error.problems
                        ]
                    },
                ) from None
            except UnicodeDecodeError as error:
                raise HTTPException(
                    status_code=400, detail=f"the body is not UTF-8 text ({error})"
                ) from None
            finally:
                text.detach()
        return Response(summary.as_dict(), status_code=200 if dry_run else 201)


class ExportController(Controller):
    """The whole roster, as the export command writes it."""

    path = "/api/export"
    tags = ["export"]
    guards = [require_key_or_admin]

    @get(
        "/",
        summary="Export the roster as a zip",
        description="Needs the scope `read` for every member, or an admin session. The zip "
        "holds members.csv, periods.csv (RFC 3339 UTC), audit.csv, api_keys.csv (never the "
        "keys' hashes) and manifest.json (counts and each file's SHA-256), read in one "
        "transaction; `piccolo home import` brings it into an empty roster.",
        responses=_errors(401, 403, 429, 503),
        media_type="application/zip",
        **scoped("read"),
    )
    async def export(self, request: Request[Any, Any, Any]) -> Stream:
        """The export, streamed."""
        _whole_roster(request, "export the roster")
        storage: Storage = request.app.state.storage
        version, migration, rows = await read_snapshot(storage.adapter())
        now = clock.utc_now(request)
        # Closed by the stream once sent (or here, if the zip cannot be written).
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            await asyncio.to_thread(
                zip_bytes_into, spool, rows, version=version, migration=migration, now=now
            )
        except BaseException:
            spool.close()
            raise
        spool.seek(0)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while chunk := spool.read(CHUNK):
                    yield chunk
            finally:
                spool.close()

        stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return Stream(
            chunks(),
            media_type="application/zip",
            headers={
                "content-disposition": f'attachment; filename="roster-export-{stamp}.zip"',
                "cache-control": "no-store",
            },
        )
