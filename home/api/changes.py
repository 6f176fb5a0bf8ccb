"""`/api/changes`: the change feed from a cursor, and the same changes as a live stream.

Access is the reports' (`require_reader`): public unless FETCH_TOKEN is set; then the token,
an API key or an admin session (the dashboard's).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.exceptions import ClientException, HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from home.api.auth import require_reader
from home.api.openapi import accepts
from home.api.reports import visible_members
from home.api.schemas import ErrorResponse
from home.changes import feed
from home.changes.feed import Change, FeedError, FeedGone
from home.storage import Storage

# Without a watcher's wake-ups (an app run without its lifespan), a stream looks this often;
# with them, now and then all the same (a wake-up lost while the watcher reconnects).
POLL_SECONDS = 1.0
WATCHED_POLL_SECONDS = 5.0
STREAM_BATCH = 500
CURSOR_TEXT = (
    "A cursor this feed issued: the `next` of the previous answer, or a `/fetch/` answer's "
    "`Changes-Cursor` header, passed back unchanged"
)


class StreamEvent(msgspec.Struct):
    """One event of the stream: a change (its type, its cursor, and the change as JSON)."""

    event: str
    id: str
    data: Annotated[str, msgspec.Meta(extra_json_schema={"contentMediaType": "application/json"})]


class ChangesResponse(msgspec.Struct):
    """Changes after the cursor, oldest first, and the cursor to pass as `after` next time
    (unchanged when there is nothing new)."""

    ok: bool
    changes: list[Change]
    next: str


ERRORS = {
    400: ResponseSpec(ErrorResponse, description="A parameter is invalid", generate_examples=False),
    401: ResponseSpec(ErrorResponse, description="A token is needed", generate_examples=False),
    410: ResponseSpec(
        ErrorResponse,
        description="The changes after this cursor are no longer kept: take a new snapshot "
        "(`GET /fetch/`) and follow from its `Changes-Cursor`",
        generate_examples=False,
    ),
    503: ResponseSpec(ErrorResponse, description="The database did not answer"),
}


def _limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()):
        raise ClientException(
            detail=f"limit must be a whole number from 1 to {feed.MAX_LIMIT:,}, not {raw[:40]!r}"
        )
    return int(raw)


def _refusal(error: FeedError) -> HTTPException:
    return HTTPException(status_code=410 if isinstance(error, FeedGone) else 400, detail=str(error))


class ChangesController(Controller):
    """The change feed: every write to a member or a period, whoever made it."""

    path = "/api/changes"
    tags = ["changes"]
    guards = [require_reader]
    # An API key reading them needs the scope `read` (a token or an admin session none).
    opt = {"scopes": ("read",)}

    @get("/", summary="Changes after a cursor, oldest first", responses=ERRORS)
    async def changes(
        self,
        request: Request[Any, Any, Any],
        after: Annotated[
            str | None,
            QueryParameter(
                description=f"{CURSOR_TEXT}. Left out: from the oldest change kept",
                schema_extra=accepts(pattern=feed.CURSOR_PATTERN),
            ),
        ] = None,
        limit: Annotated[
            str | None,
            QueryParameter(
                description=f"At most this many changes, from 1 to {feed.MAX_LIMIT:,} "
                f"(default {feed.DEFAULT_LIMIT})",
                schema_extra=accepts(type="integer", minimum=1, maximum=feed.MAX_LIMIT),
            ),
        ] = None,
    ) -> ChangesResponse:
        """Each change: `id` (its own cursor), `at` (RFC 3339 UTC), `type` (`member.created`,
        `member.updated`, `member.deleted`, `period.created`, `period.updated`,
        `period.deleted`, or `roster.bulk`: many rows at once, take a new snapshot), `actor`
        (as in the audit trail) and `data` (the row after the change, or before a deletion)."""
        storage: Storage = request.app.state.storage
        try:
            page = await feed.read_changes(storage.adapter(), after, _limit(limit))
        except FeedError as error:
            raise _refusal(error) from None
        changes = page.changes
        if (visible := visible_members(request)) is not None:
            # A key limited to some members sees their changes only; `next` still moves on.
            changes = [change for change in changes if feed.concerns(change, visible)]
        return ChangesResponse(ok=True, changes=changes, next=page.next)

    @get(
        "/stream",
        summary="The same changes as Server-Sent Events",
        responses={
            200: ResponseSpec(
                StreamEvent,
                description="`text/event-stream`: one event per change (`id:` its cursor, "
                "`event:` its type, `data:` the change as JSON), a comment every 15 s "
                "(STREAM_HEARTBEAT_SECONDS), "
                "resuming after `Last-Event-ID`",
                media_type="text/event-stream",
                generate_examples=False,
            ),
            **ERRORS,
        },
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        after: Annotated[
            str | None,
            QueryParameter(
                description=f"{CURSOR_TEXT}. Left out (and no `Last-Event-ID`): from now on",
                schema_extra=accepts(pattern=feed.CURSOR_PATTERN),
            ),
        ] = None,
    ) -> Response[Any]:
        """Changes as they happen. A reconnecting browser sends `Last-Event-ID` and resumes
        after it; the stream ends cleanly when the server stops."""
        storage: Storage = request.app.state.storage
        adapter = storage.adapter()
        resume = request.headers.get("last-event-id") or after
        try:
            if resume is None:
                start = (await adapter.current_version()).changes
            else:
                start = feed.decode_cursor(resume)
                await feed.read_changes(adapter, resume, 1)  # 410 now rather than mid-stream
        except FeedError as error:
            raise _refusal(error) from None
        return ServerSentEvent(
            _events(request.app.state, feed.encode_cursor(start), visible_members(request))
        )


async def _events(
    state: State, cursor: str, visible: frozenset[str] | None
) -> AsyncIterator[ServerSentEventMessage]:
    """The stream's events from `cursor` on, a heartbeat when quiet, until the server stops."""
    storage: Storage = state.storage
    heartbeat = state.settings.stream_heartbeat_seconds
    async with state.changes.following() as watcher:
        last_sent = time.monotonic()
        while not watcher.closing.is_set():
            mark = watcher.mark()
            try:
                page = await feed.read_changes(storage.adapter(), cursor, STREAM_BATCH)
            except FeedGone as error:
                yield ServerSentEventMessage(event="gone", data=str(error))
                return
            for change in page.changes:
                if visible is not None and not feed.concerns(change, visible):
                    continue
                yield ServerSentEventMessage(
                    id=change.id, event=change.type, data=_encode(change).decode()
                )
            cursor = page.next
            if len(page.changes) == STREAM_BATCH:
                continue
            now = time.monotonic()
            if page.changes:
                last_sent = now
            elif now - last_sent >= heartbeat:
                yield ServerSentEventMessage(comment="heartbeat", data=None)
                last_sent = now
            poll = WATCHED_POLL_SECONDS if watcher.running else POLL_SECONDS
            await watcher.wait(mark, max(0.0, min(heartbeat - (now - last_sent), poll)))


_encode = msgspec.json.Encoder().encode
