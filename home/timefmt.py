"""Time formatting that does not depend on the server's locale."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
MONTH_ABBREVIATIONS = tuple(month[:3] for month in MONTHS)


def format_seed(moment: datetime) -> str:
    """`June 05 2020 09:07`: the moment in UTC, as the seed document shows it."""
    utc = moment.astimezone(UTC)
    return f"{MONTHS[utc.month - 1]} {utc.day:02d} {utc.year:04d} {utc.hour:02d}:{utc.minute:02d}"


def format_fullthrottle(moment: datetime, zone: tzinfo) -> str:
    """`Feb 1 2020 1:33PM`: the moment in `zone` (daylight saving included), no zero padding."""
    try:
        local = moment.astimezone(zone)
    except OverflowError:
        # Within hours of year 1 or 9999 the zone's offset leaves datetime's range: stay in UTC.
        local = moment.astimezone(UTC)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return (
        f"{MONTH_ABBREVIATIONS[local.month - 1]} {local.day} {local.year} "
        f"{hour}:{local.minute:02d}{half}"
    )


@lru_cache(maxsize=1024)
def zone_named(name: str) -> tzinfo:
    """The IANA zone called `name`; UTC for a name zoneinfo does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_stored(text: str) -> datetime:
    """A time as SQLite stores it (`2020-06-20 14:29:00+00:00`), aware and in UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def seed_from_stored(text: str) -> str:
    """`format_seed` of a stored SQLite time, sliced directly when it is already UTC."""
    # Piccolo writes `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`; anything else takes the slow path.
    if text.endswith("+00:00") and len(text) in (25, 32) and text[10] == " ":
        return f"{MONTHS[int(text[5:7]) - 1]} {text[8:10]} {text[0:4]} {text[11:16]}"
    return format_seed(parse_stored(text))


def is_canonical_stored(text: str) -> bool:
    """True when the stored text sorts in time order with others like it (UTC, Piccolo's form)."""
    return text.endswith("+00:00") and len(text) in (25, 32) and text[10] == " "


def to_stored(moment: datetime) -> str:
    """How Piccolo stores an aware time in SQLite: UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`."""
    return str(moment.astimezone(UTC))
