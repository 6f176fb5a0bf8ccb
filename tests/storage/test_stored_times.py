"""The per-render seed formatters write exactly what `seed` writes, on both engines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from home.roster.timefmt import format_seed
from home.storage.base import UnusualTime
from home.storage.postgres import PostgresTimes
from home.storage.sqlite import SQLiteTimes, to_stored

MOMENTS = [
    datetime(2020, 2, 29, 23, 59, 59, tzinfo=UTC) + timedelta(minutes=37 * step, microseconds=step)
    for step in range(2_000)
] + [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)]


def test_postgres_formatter_matches_seed_in_and_out_of_utc():
    seed = PostgresTimes().seed_formatter()
    kolkata = timezone(timedelta(hours=5, minutes=30))
    for moment in MOMENTS:
        assert seed(moment) == format_seed(moment)
        local = moment.astimezone(kolkata) if 1 < moment.year < 9999 else moment
        assert seed(local) == format_seed(local)  # another zone: the full path, same text


def test_postgres_periods_match_seed():
    pairs = [[start, end] for start, end in zip(MOMENTS, MOMENTS[1:], strict=False)]
    periods = PostgresTimes().seed_periods(lambda start, end: (start, end))
    assert periods(pairs) == [(format_seed(start), format_seed(end)) for start, end in pairs]
    assert periods(None) == []


def test_sqlite_periods_match_seed_and_leave_unusual_forms_to_it():
    """The column holds a JSON array of [start, end] pairs, as SQLite's json_group_array
    writes it; Piccolo's whole-second form is sliced, anything else is an `UnusualTime`."""
    times = SQLiteTimes()
    periods = times.seed_periods(lambda start, end: (start, end))
    whole = [moment.replace(microsecond=0) for moment in MOMENTS]
    # Whole seconds, then with microseconds (as the sessions API stores "now"), then mixed.
    pairs = [
        *zip(whole, whole[1:], strict=False),
        *zip(MOMENTS[1:], MOMENTS[2:], strict=False),
        *zip(whole[1:], MOMENTS[2:], strict=False),
    ]
    column = json.dumps([[to_stored(start), to_stored(end)] for start, end in pairs])
    expected = [(format_seed(start), format_seed(end)) for start, end in pairs]
    assert periods(column) == expected
    assert [(times.seed(s), times.seed(e)) for s, e in times.periods(column)] == expected
    assert periods("[]") == []
    for unusual in (
        "2020-06-20 10:00:00+02:00",
        "2020-06-20 10:00:00",
        "2020-06-20T10:00:00Z",
        "2020-06-20 10:00:00.25+00:00",
        "2020-06-20 1:00:00+00:00",
        "2020-13-20 10:00:00+00:00",
        "2020-06-2x 10:00:00+00:00",
        20200620,
    ):
        column = json.dumps([["2020-06-20 09:00:00+00:00", "2020-06-20 09:30:00+00:00"]] * 2)
        column = column[:-1] + ", " + json.dumps(["2020-06-20 09:45:00+00:00", unusual]) + "]"
        with pytest.raises(UnusualTime):
            periods(column)
