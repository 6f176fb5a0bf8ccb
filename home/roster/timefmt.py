"""How the roster writes times, in fixed English whatever the server's locale."""

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


def format_rfc3339(moment: datetime) -> str:
    """`2026-11-30T03:45:00Z`: the moment in UTC (microseconds only when it has some)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"
