"""fullthrottle times written an hour of a zone at a time (roster/timefmt.py ZoneHours, and
SQLite's reading of its stored text) agree with `format_fullthrottle` for every zone, around
every kind of clock change, across the centuries the roster accepts."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from home.api.schemas import Period
from home.roster.timefmt import format_fullthrottle, zone_hours, zone_named
from home.roster.validation import known_zones
from home.storage.base import UnusualTime
from home.storage.sqlite import SQLiteTimes, to_stored

TIMES = SQLiteTimes()


def expected(moment: datetime, name: str) -> str:
    return format_fullthrottle(moment, zone_named(name))


def test_random_instants_in_every_zone_are_written_as_the_zone_shows_them():
    rng = random.Random(20261204)
    zones = sorted(known_zones())
    low = datetime(1890, 1, 1, tzinfo=UTC).timestamp()
    high = datetime(2060, 1, 1, tzinfo=UTC).timestamp()
    for _ in range(20_000):
        name = rng.choice(zones)
        seconds = rng.uniform(low, high)
        if rng.random() < 0.5:
            seconds = float(int(seconds))
        moment = datetime.fromtimestamp(seconds, UTC)
        hours = zone_hours(name)
        assert hours.written(seconds) == expected(moment, name), (name, seconds)
        assert TIMES.fullthrottle(to_stored(moment), hours) == expected(moment, name)


@pytest.mark.parametrize(
    "name",
    [
        "Europe/Berlin",  # an hour forward and back
        "America/New_York",
        "Australia/Lord_Howe",  # half an hour of daylight saving
        "Pacific/Chatham",  # +12:45 and +13:45
        "Asia/Kolkata",  # +05:30, no change
        "America/St_Johns",  # -03:30 and -02:30
        "Pacific/Apia",  # skipped 2011-12-30 altogether
    ],
)
def test_every_minute_around_each_clock_change(name):
    zone = zone_named(name)
    hours = zone_hours(name)
    for year in (2011, 2026):
        moment = datetime(year, 1, 1, tzinfo=UTC)
        offset = moment.astimezone(zone).utcoffset()
        while moment.year == year:
            following = moment + timedelta(hours=1)
            if following.astimezone(zone).utcoffset() != offset:
                for minute in range(-90, 150):
                    at = moment + timedelta(minutes=minute, seconds=30)
                    assert hours.written(at.timestamp()) == expected(at, name), (name, at)
                    assert TIMES.fullthrottle(to_stored(at), hours) == expected(at, name)
                offset = following.astimezone(zone).utcoffset()
            moment = following


def test_a_members_periods_column_is_written_in_their_zone_or_left_to_the_slow_path():
    hours = zone_hours("Asia/Kolkata")
    periods = TIMES.fullthrottle_periods(Period)
    column = json.dumps(
        [
            ["2026-03-01 20:00:00+00:00", "2026-03-01 22:15:59+00:00"],  # past local midnight
            ["2026-03-02 09:00:00.250000+00:00", "2026-03-02 10:00:00+00:00"],
        ]
    )
    assert periods(column, hours) == [
        Period("Mar 2 2026 1:30AM", "Mar 2 2026 3:45AM"),
        Period("Mar 2 2026 2:30PM", "Mar 2 2026 3:30PM"),
    ]
    # Another offset, no offset, or not text: the render writes these the slow way.
    for odd in ("2026-03-01 20:00:00+01:00", "2026-03-01T20:00:00Z", 7):
        with pytest.raises(UnusualTime):
            periods(json.dumps([[odd, "2026-03-01 22:00:00+00:00"]]), hours)
