"""The change feed: every write to a member or a period, oldest first, from a cursor.

The database records each change in the writing transaction (`roster_change`, see the
migration of 2026-12-04T17:00:01), whoever writes: the API, the admin, the command line or
plain SQL. A follower asks for the changes after a cursor and gets the next cursor; it never
misses a change and never sees one twice (`Adapter.changes_after` holds back what a running
transaction could still precede). Changes are kept for `CHANGES_RETENTION_DAYS`; a cursor
that points before what was pruned is refused (`FeedGone`), since changes after it are lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from home.roster.timefmt import format_rfc3339
from home.storage import Adapter
from home.storage.base import ChangeRow, Position

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CHANGE_TYPES = (
    "member.created",
    "member.updated",
    "member.deleted",
    "period.created",
    "period.updated",
    "period.deleted",
    "roster.bulk",
)
START: Position = (0, 0)
# Two numbers in hexadecimal, each below 2**63 (a signed 64-bit number in the database).
_PART = "([0-7][0-9a-f]{15}|[0-9a-f]{1,15})"
CURSOR_PATTERN = f"^{_PART}\\.{_PART}$"
_CURSOR = re.compile(CURSOR_PATTERN)


class FeedError(ValueError):
    """A request of the feed that cannot be answered as asked; the message says what to do."""


class BadCursor(FeedError):
    """Not a cursor this feed issued."""


class FeedGone(FeedError):
    """The changes after this cursor were pruned: the follower must take a new snapshot."""


class Change(msgspec.Struct, frozen=True):
    """One change as the feed, the stream and the webhooks show it."""

    id: str
    at: str
    type: str
    actor: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Page:
    """Changes after a cursor, and the cursor to ask from next time."""

    changes: list[Change]
    next: str
    position: Position


def encode_cursor(position: Position) -> str:
    """A position as the opaque cursor clients pass back."""
    return f"{position[0]:x}.{position[1]:x}"


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names, or BadCursor."""
    match = _CURSOR.match(cursor.strip())
    if match is None:
        raise BadCursor(
            f"after={cursor[:80]!r} is not a cursor of this feed: pass the `next` of the "
            "previous answer, or a /fetch/ answer's Changes-Cursor header, unchanged"
        )
    return (int(match[1], 16), int(match[2], 16))


def parse_limit(raw: int | None) -> int:
    """How many changes to answer with, or FeedError saying what is allowed."""
    if raw is None:
        return DEFAULT_LIMIT
    if not 1 <= raw <= MAX_LIMIT:
        raise FeedError(f"limit must be from 1 to {MAX_LIMIT:,}, not {raw}")
    return raw


def _utc_text(value: Any) -> str | None:
    """A stored time (an aware datetime, or text in any ISO form) in RFC 3339 UTC."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:  # plain SQL may store a time without an offset: UTC
        moment = moment.replace(tzinfo=UTC)
    return format_rfc3339(moment)


_decode = msgspec.json.Decoder().decode


def _data(kind: str, stored: str) -> dict[str, Any]:
    row = _decode(stored)
    if kind.startswith("member."):
        return {"id": str(row["id"]), "real_name": row["real_name"], "tz": row["tz"]}
    if kind.startswith("period."):
        return {
            "id": row["id"],
            "member_id": str(row["member"]),
            "start_time": _utc_text(row["start_time"]),
            "end_time": _utc_text(row["end_time"]),
        }
    return row  # roster.bulk: its counts


def change(row: ChangeRow) -> Change:
    """A stored change as followers see it."""
    txid, change_id, occurred_at, kind, actor, data = row
    return Change(
        id=encode_cursor((txid, change_id)),
        at=_utc_text(occurred_at) or "",
        type=kind,
        actor=actor,
        data=_data(kind, data),
    )


def concerns(change: Change, members: frozenset[str]) -> bool:
    """Whether a change is about one of `members` (a bulk run is about no member in
    particular)."""
    if change.type.startswith("member."):
        return change.data["id"] in members
    if change.type.startswith("period."):
        return change.data["member_id"] in members
    return False


async def read_changes(adapter: Adapter, after: str | None, limit: int | None) -> Page:
    """The changes after the cursor `after` (None: the oldest kept), up to `limit`."""
    count = parse_limit(limit)
    position = START if after is None else decode_cursor(after)
    if after is None:
        position = max(position, await adapter.changes_pruned())
    rows = await adapter.changes_after(position, count)
    # Read after the rows: a prune that committed before them shows here.
    if after is not None and position < await adapter.changes_pruned():
        raise FeedGone(
            "the changes after this cursor are no longer kept (see CHANGES_RETENTION_DAYS): "
            "take a new snapshot with GET /fetch/ and follow from its Changes-Cursor header"
        )
    if rows:
        position = (rows[-1][0], rows[-1][1])
    return Page([change(row) for row in rows], encode_cursor(position), position)
