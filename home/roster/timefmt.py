"""How the roster writes times, in fixed English whatever the server's locale."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
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


# --- fullthrottle times, an hour of a zone at a time ---------------------------------------
# A render writes hundreds of thousands of times in a few hundred zones. Within one UTC hour a
# zone's offset almost never changes, so each (zone, UTC hour) is worked out once: the local
# day's text and the local minute of day at the hour's start. A time is then its minute past
# the hour added on, written from a table of minute texts. An hour in which the offset changes,
# or is not whole minutes (local mean time, before 1900 or so), takes `format_fullthrottle`.

_DAY = 86_400
FULLTHROTTLE_CLOCK = _CLOCK = tuple(
    f"{(minute // 60) % 12 or 12}:{minute % 60:02d}{'AM' if minute < 720 else 'PM'}"
    for minute in range(1440)
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_day_texts: dict[int, str] = {}

# (the local day's text, the next day's, the local minute of day at the hour's start)
Hour = tuple[str, str, int]


def _day_text(day: int) -> str:
    """`Feb 1 2020 ` for the day `day` days after 1970-01-01."""
    text = _day_texts.get(day)
    if text is None:
        date = (_EPOCH + timedelta(days=day)).date()
        text = _day_texts[day] = f"{MONTH_ABBREVIATIONS[date.month - 1]} {date.day} {date.year} "
    return text


class ZoneHours:
    """fullthrottle's wall-clock texts in one zone, each UTC hour worked out once."""

    def __init__(self, zone: tzinfo):
        self.zone = zone
        self.by_index: dict[int, Hour | None] = {}
        self.by_text = _HoursByText(self)

    def _offset(self, seconds: int) -> float:
        try:
            offset = datetime.fromtimestamp(seconds, UTC).astimezone(self.zone).utcoffset()
        except (OverflowError, ValueError, OSError):
            return 0.5  # not whole minutes: the slow path
        return offset.total_seconds() if offset is not None else 0.0

    def hour(self, index: int) -> Hour | None:
        """Hour `index` (Unix seconds // 3600) in this zone, or None where it needs the slow
        path."""
        found = self.by_index.get(index, False)
        if found is not False:
            return found  # type: ignore[return-value]
        start = index * 3600
        offset = self._offset(start)
        entry: Hour | None = None
        if offset == self._offset(start + 3599) and offset % 60 == 0:
            local = start + int(offset)
            day = local // _DAY
            entry = (_day_text(day), _day_text(day + 1), (local % _DAY) // 60)
        self.by_index[index] = entry
        return entry

    def written(self, seconds: float) -> str:
        """`Feb 1 2020 1:33PM`: Unix seconds as the zone's wall clock shows them."""
        whole = math.floor(seconds)
        entry = self.hour(whole // 3600)
        if entry is None:
            return format_fullthrottle(datetime.fromtimestamp(seconds, UTC), self.zone)
        minute = entry[2] + (whole % 3600) // 60
        return entry[0] + _CLOCK[minute] if minute < 1440 else entry[1] + _CLOCK[minute - 1440]

    def written_text(self, stored: str) -> str | None:
        """The same for Piccolo's stored form (`2020-02-01 18:33:07+00:00`, UTC), read from
        its text; None when it is in another form."""
        if not (len(stored) in (25, 32) and stored.endswith("+00:00") and stored[10] == " "):
            return None
        entry = self.by_text[stored[:13]]
        if entry is None:
            return None
        minute = entry[2] + int(stored[14:16])  # type: ignore[index]
        return entry[0] + _CLOCK[minute] if minute < 1440 else entry[1] + _CLOCK[minute - 1440]  # type: ignore[index]


class _HoursByText(dict[str, "Hour | None"]):
    """A zone's hours by the text Piccolo's stored form starts with (`YYYY-MM-DD HH`), each
    worked out on first use."""

    def __init__(self, hours: ZoneHours):
        super().__init__()
        self.hours = hours

    def __missing__(self, prefix: str) -> Hour | None:
        moment = datetime.fromisoformat(prefix + ":00:00+00:00")
        entry = self[prefix] = self.hours.hour(int(moment.timestamp()) // 3600)
        return entry


@lru_cache(maxsize=2048)
def zone_hours(name: str) -> ZoneHours:
    """`ZoneHours` for the zone called `name` (UTC when unknown), kept per name."""
    return ZoneHours(zone_named(name))
