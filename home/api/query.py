"""The query parameters of `GET /fetch/`, validated with messages that say what to change."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import msgspec

from home.roster.tables import NAME_MAX_LENGTH
from home.roster.validation import check_tz

STYLES = ("seed", "fullthrottle")
MAX_LIMIT = 1_000
# The longest `next` encode_cursor can issue: JSON `["<name>","<uuid>"]` with every character
# of a longest name escaped to 6 bytes (a control character is written \u0001), in base64.
CURSOR_MAX_LENGTH = 4 * math.ceil((6 * NAME_MAX_LENGTH + 36 + len('["",""]')) / 3)
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"  # unpadded base64url
NO_NUL_PATTERN = "^[^\\x00]*$"
TIME_TEXT = (
    "RFC 3339, e.g. `2020-06-20T14:29:00Z` or `2020-06-20T20:00:00%2B05:30` (write `+` as "
    "`%2B`); a date, or a time without an offset, is also read, as UTC."
)
# The times Python's datetime holds; a filter bound beyond them is the same as the extreme.
EARLIEST, LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


class FetchQueryError(ValueError):
    """A query parameter of /fetch/ is not valid; the message says what to change."""


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last member's (real_name, id) in the API's order."""

    real_name: str
    id: str


@dataclass(frozen=True)
class FetchQuery:
    """One validated /fetch/ request: style, page and filters."""

    style: str = "seed"
    limit: int | None = None
    after: Position | None = None
    tz: str | None = None
    name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    member_id: str | None = None  # one member (GET /api/members/{id}); not a /fetch/ parameter

    @property
    def is_plain(self) -> bool:
        """True for the whole roster in the seed style (the request with no parameters)."""
        return self == PLAIN

    @cached_property
    def tag(self) -> str:
        """A short, stable fingerprint of the request, for ETags and cache keys."""
        if self.is_plain:
            return "all"
        return hashlib.blake2b(repr(self).encode(), digest_size=6).hexdigest()


PLAIN = FetchQuery()


def encode_cursor(position: Position) -> str:
    """The opaque `next` value for a page ending at `position`."""
    raw = msgspec.json.encode([position.real_name, position.id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> Position:
    """The position a `next` value stands for, or FetchQueryError."""
    problem = FetchQueryError(
        "cursor is not a value this API issued; pass the `next` value of the previous page "
        "unchanged, or leave cursor out to start from the first page"
    )
    if not cursor or len(cursor) > CURSOR_MAX_LENGTH:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        real_name, member_id = msgspec.json.decode(raw, type=tuple[str, str])
        member_id = str(uuid.UUID(member_id))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise problem from None
    if not 1 <= len(real_name) <= NAME_MAX_LENGTH or "\x00" in real_name:
        raise problem
    return Position(real_name=real_name, id=member_id)


def parse_limit(raw: str) -> int:
    """A page size from 1 to MAX_LIMIT."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise FetchQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT:,}, not {raw!r}")
    return int(text)


def parse_time(raw: str, name: str) -> datetime:
    """An ISO 8601 time; one without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        # A `+` typed into a URL arrives as a space, which makes the offset unreadable.
        plus = (
            "; it has a space, which is how an unencoded `+` arrives: write `+` as `%2B` in a URL"
        )
        raise FetchQueryError(
            f"{name} must be an ISO 8601 time such as 2020-06-20T14:29:00Z or "
            f"2020-06-20T14:29:00+05:30, not {raw!r}" + (plus if " " in raw.strip() else "")
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # Within a day of year 1 or 9999: nothing stored lies beyond the extreme.
        return EARLIEST if moment.year == 1 else LATEST


def parse_fetch_query(
    style: str | None = None,
    limit: str | None = None,
    cursor: str | None = None,
    tz: str | None = None,
    name: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> FetchQuery:
    """Validate the raw query parameters of /fetch/ into a FetchQuery."""
    if style is not None and style not in STYLES:
        raise FetchQueryError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    page_size = parse_limit(limit) if limit is not None else None
    after = decode_cursor(cursor) if cursor is not None else None
    if after is not None and page_size is None:
        raise FetchQueryError("cursor only works with limit; pass the same limit as before")
    if tz is not None:
        try:
            check_tz(tz)
        except ValueError as error:
            raise FetchQueryError(str(error)) from None
    if name is not None and not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise FetchQueryError(
            f"name must be 1 to {NAME_MAX_LENGTH} characters to search for, not {len(name)}"
        )
    if name is not None and "\x00" in name:
        raise FetchQueryError(
            "name must not contain NUL (\\x00) characters; no stored name has one"
        )
    start = parse_time(since, "since") if since is not None else None
    end = parse_time(until, "until") if until is not None else None
    if start is not None and end is not None and start > end:
        raise FetchQueryError(
            f"since ({start.isoformat()}) is after until ({end.isoformat()}); "
            "swap them or widen the window"
        )
    return FetchQuery(
        style=style or "seed",
        limit=page_size,
        after=after,
        tz=tz,
        name=name,
        since=start,
        until=end,
    )
