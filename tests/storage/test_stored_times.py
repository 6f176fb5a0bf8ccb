"""The per-render seed formatters write exactly what `seed` writes, on both engines."""

from __future__ import annotations

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


def test_sqlite_formatter_matches_seed_and_leaves_unusual_forms_to_it():
    times = SQLiteTimes()
    seed = times.seed_formatter()
    for moment in MOMENTS:
        stored = to_stored(moment)
        assert seed(stored) == times.seed(stored) == format_seed(moment)
    for unusual in ("2020-06-20 10:00:00+02:00", "2020-06-20 10:00:00", "2020-06-20T10:00:00Z"):
        with pytest.raises(UnusualTime):
            seed(unusual)
