"""What the data means: seconds active per day or ISO week, who is on now, zones, session lengths.

Pure computation over rows the storage package reads (times as Unix seconds). A period is
clipped to the report's window and split at the calendar's midnights, so a period that
crosses midnight counts on both days, and a day with a daylight-saving change has 23 or 25
hours. A running session counts up to `now`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from home.roster.timefmt import format_rfc3339, zone_named
from home.storage.base import TimeScale

GROUPS = ("day", "week")
# Session lengths, in seconds: each bin holds [low, next low).
LENGTH_BINS = (
    (0, "under 15 min"),
    (15 * 60, "15-30 min"),
    (30 * 60, "30-60 min"),
    (3600, "1-2 h"),
    (2 * 3600, "2-4 h"),
    (4 * 3600, "4-6 h"),
    (6 * 3600, "6-8 h"),
    (8 * 3600, "8-10 h"),
    (10 * 3600, "10 h or more"),
)


def label(day: date, group: str) -> str:
    """`2026-11-27` for a day, `2026-W48` for its ISO week."""
    if group == "day":
        return day.isoformat()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class Calendar:
    """The buckets of one zone over a window: where each starts (Unix seconds) and its label."""

    starts: list[float]
    labels: list[str]

    @classmethod
    def of(cls, zone: tzinfo, since: float, until: float, group: str) -> Calendar:
        """Days (or ISO weeks, from Monday) of `zone`, from the one holding `since` to the one
        holding the last moment before `until`; the last start is where the window's last
        bucket ends."""
        day = datetime.fromtimestamp(since, zone).date()
        if group == "week":
            day -= timedelta(days=day.weekday())
        step = timedelta(days=1 if group == "day" else 7)
        starts, labels = [], []
        while True:
            # Midnight local time; zoneinfo places a midnight that a change skips an hour later.
            start = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
            starts.append(start)
            if start >= until:
                return cls(starts, labels)
            labels.append(label(day, group))
            day += step


@dataclass
class MemberActivity:
    """One member's seconds per bucket."""

    id: str
    real_name: str
    tz: str
    buckets: dict[str, int]

    @property
    def total_seconds(self) -> int:
        """All of the member's seconds in the window."""
        return sum(self.buckets.values())


@dataclass
class Activity:
    """The activity report: every member's seconds per bucket, and the totals per bucket."""

    members: list[MemberActivity]
    totals: dict[str, int]


def activity(
    members: list[Any],
    periods: list[Any],
    *,
    since: float,
    until: float,
    now: float,
    group: str,
    tz: str,
    scale: TimeScale,
) -> Activity:
    """Seconds active per bucket for each of `members` (`(id, real_name, tz)` rows) from
    `periods` (`(member id, start, end or None)` rows, times in `scale`) inside [since,
    until) (Unix seconds, as `now`).

    `tz` is `member` (each member's own calendar), `UTC` or an IANA zone name.
    """
    calendars: dict[str, tuple[Calendar, list[float]]] = {}
    for zone_name in {row[2] for row in members} if tz == "member" else {tz}:
        calendar = Calendar.of(zone_named(zone_name), since, until, group)
        calendars[zone_name] = (calendar, [scale.number(start) for start in calendar.starts])
    # One lookup per period: each member's bucket starts and the seconds counted so far.
    counted: dict[str, tuple[list[float], dict[int, float]]] = {
        row[0]: (calendars[row[2] if tz == "member" else tz][1], {}) for row in members
    }
    running_until = scale.number(min(until, now))
    since, until = scale.number(since), scale.number(until)
    for member_id, start, end in periods:
        found = counted.get(member_id)
        if found is None:
            continue
        begin = start if start > since else since
        finish = running_until if end is None else end
        if finish > until:
            finish = until
        if finish <= begin:
            continue
        starts, buckets = found
        index = bisect_right(starts, begin) - 1
        boundary = starts[index + 1]
        while boundary < finish:  # the period goes on past this bucket's end
            buckets[index] = buckets.get(index, 0.0) + (boundary - begin)
            begin, index = boundary, index + 1
            boundary = starts[index + 1]
        buckets[index] = buckets.get(index, 0.0) + (finish - begin)
    result = []
    totals: dict[str, int] = {}
    unit = scale.seconds_per_unit
    for member_id, real_name, member_tz in members:
        found_seconds = counted[member_id][1]
        buckets = {}
        if found_seconds:
            labels = calendars[member_tz if tz == "member" else tz][0].labels
            for index in sorted(found_seconds):
                # To the millisecond first: SQLite's day fractions carry a few microseconds
                # of error, which must not tip a half second the other way than PostgreSQL.
                value = round(round(found_seconds[index] * unit, 3))
                if value:
                    key = labels[index]
                    buckets[key] = value
                    totals[key] = totals.get(key, 0) + value
        result.append(MemberActivity(member_id, real_name, member_tz, buckets))
    for calendar, _starts in calendars.values():
        for key in calendar.labels:
            totals.setdefault(key, 0)
    return Activity(result, dict(sorted(totals.items())))


def most_active(report: Activity, top: int) -> list[MemberActivity]:
    """The `top` members with the most seconds (ties by name, then id)."""
    ranked = sorted(report.members, key=lambda m: (-m.total_seconds, m.real_name, m.id))
    return ranked[:top]


def session_lengths(
    periods: list[Any], since: float, until: float, scale: TimeScale
) -> list[tuple[str, int, int]]:
    """How many finished sessions that started inside [since, until) (Unix seconds) lasted how
    long: `(bin label, lowest seconds, sessions)` per bin; `periods` times in `scale`."""
    lows = [low / scale.seconds_per_unit for low, _ in LENGTH_BINS]
    counts = [0] * len(LENGTH_BINS)
    since, until = scale.number(since), scale.number(until)
    for _member, start, end in periods:
        if end is None or not since <= start < until:
            continue
        counts[bisect_right(lows, end - start) - 1] += 1
    return [(name, low, count) for (low, name), count in zip(LENGTH_BINS, counts, strict=True)]


def utc_text(seconds: float) -> str:
    """Unix seconds as RFC 3339 in UTC, whole seconds: `2026-11-30T03:45:00Z`."""
    return format_rfc3339(datetime.fromtimestamp(int(seconds), UTC))
