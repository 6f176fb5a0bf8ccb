"""Property tests (hypothesis): the seed time format and populate's generated data."""

from __future__ import annotations

import itertools
import re
import string
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from home.roster.demo import (
    AFTERNOON,
    LONGEST,
    MORNING,
    PopulateError,
    _ZoneDays,
    generate,
    window,
)
from home.roster.timefmt import MONTHS, format_seed
from home.roster.validation import check_period, check_real_name, check_tz

SEED_TIME = re.compile(
    r"^(?P<month>[A-Z][a-z]+) (?P<day>\d{2}) (?P<year>\d{4}) (?P<hour>\d{2}):(?P<minute>\d{2})$"
)

offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Any aware moment whose UTC value is a representable datetime.
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
)


def parse_seed(text: str) -> datetime:
    """Read `June 05 2020 09:07` back, without the locale."""
    match = SEED_TIME.match(text)
    assert match, text
    return datetime(
        int(match["year"]),
        MONTHS.index(match["month"]) + 1,
        int(match["day"]),
        int(match["hour"]),
        int(match["minute"]),
        tzinfo=UTC,
    )


@given(moments)
def test_seed_format_round_trips_to_the_utc_minute(moment):
    text = format_seed(moment)
    expected = moment.astimezone(UTC).replace(second=0, microsecond=0)
    assert parse_seed(text) == expected


@given(moments)
def test_seed_format_has_fixed_shape_and_english_months(moment):
    text = format_seed(moment)
    match = SEED_TIME.match(text)
    assert match and match["month"] in MONTHS
    assert len(text) == len(match["month"]) + len(" 05 2020 09:07")


@given(
    moments,
    st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=31)),
)
def test_seed_format_sorts_like_time_within_a_month(first, later):
    # The second moment is drawn from the first, so the two share a month often enough for
    # the assertion to bite; the assume keeps only pairs that do.
    a = first.astimezone(UTC).replace(second=0, microsecond=0)
    assume(a < datetime(9999, 12, 1, tzinfo=UTC))
    b = a + later
    assume((a.year, a.month) == (b.year, b.month))
    assert format_seed(a) < format_seed(b)


nows = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(min_value=0, max_value=30),
    periods=st.integers(min_value=0, max_value=58),
    days=st.integers(min_value=30, max_value=60),
    seed=st.none() | st.integers(min_value=0, max_value=2**63),
    now=nows,
)
def test_generated_sessions_look_like_logins_and_never_overlap(count, periods, days, seed, now):
    rows = generate(count, periods, seed, now=now, days=days)
    assert len(rows) == count
    assert len({member.id for member, _ in rows}) == count
    # The window ends now (at today's midnight UTC with a seed, so a seeded run is the same
    # all day) and lasts `days` days: every session lies inside it, in every zone.
    window_end = now.replace(hour=0, minute=0, second=0, microsecond=0) if seed is not None else now
    window_end = window_end.replace(microsecond=0)
    window_start = window_end - timedelta(days=days)
    for member, spans in rows:
        check_real_name(member.real_name)
        check_tz(member.tz)
        assert len(member.real_name) == 10 and set(member.real_name) <= set(string.ascii_uppercase)
        assert len(spans) == periods
        zone = ZoneInfo(member.tz)
        for start, end in spans:
            check_period(start, end)
            assert timedelta(minutes=15) <= end - start <= timedelta(hours=9)
            assert window_start <= start and end <= window_end
            local = start.astimezone(zone)
            seconds = local.hour * 3600 + local.minute * 60 + local.second
            # A morning or an afternoon start in the member's own zone (an hour's leeway for a
            # daylight-saving change that day).
            assert any(low - 3600 <= seconds <= high + 3600 for low, high in (MORNING, AFTERNOON))
        for (_, previous_end), (next_start, _) in zip(spans, spans[1:], strict=False):
            assert previous_end <= next_start


def test_sessions_fall_mostly_on_working_days_in_the_members_zone():
    now = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    rows = generate(400, 5, seed=9, now=now)
    starts = [
        (start.astimezone(ZoneInfo(member.tz))) for member, spans in rows for start, _ in spans
    ]
    workdays = sum(local.weekday() < 5 for local in starts)
    assert workdays / len(starts) > 0.85
    mornings = sum(local.hour < 12 for local in starts)
    assert 0.35 < mornings / len(starts) < 0.65


@settings(max_examples=30, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=10),
    periods=st.integers(min_value=0, max_value=10),
    seed=st.integers(min_value=0, max_value=2**63),
    now=nows,
    later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=23)),
)
def test_same_seed_same_day_gives_the_same_roster(count, periods, seed, now, later):
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def snapshot(at):
        return [
            (member.id, member.real_name, member.tz, spans)
            for member, spans in generate(count, periods, seed, now=at)
        ]

    assert snapshot(midnight) == snapshot(midnight + later)


@pytest.mark.parametrize("zone", ["Pacific/Apia", "Pacific/Fakaofo"])
def test_days_stay_apart_where_a_zone_skips_a_date(zone):
    # Samoa and Tokelau skipped 30 December 2011: that date is no day to hold sessions.
    now, days = datetime(2012, 1, 10, 5, tzinfo=UTC), 30
    bases, _ = _ZoneDays(*window(now, days), days)(zone)
    assert len(bases) == days - 1
    for day, following in itertools.pairwise(bases):
        # The latest session of a day (an afternoon start of 9 hours) ends before the
        # following day's earliest one starts.
        assert day + AFTERNOON[1] + LONGEST <= following + MORNING[0]
    assert now - timedelta(days=days) <= datetime.fromtimestamp(bases[0] + MORNING[0], UTC)
    assert datetime.fromtimestamp(bases[-1] + AFTERNOON[1] + LONGEST, UTC) <= now


def test_a_zone_whose_clocks_jump_too_far_is_refused_rather_than_overlapped():
    # Antarctica/Vostok moved its clocks 7 hours one night in 1994: two of its days there would
    # overlap, so one is left out, and 30 days then hold too few.
    with pytest.raises(PopulateError, match="Antarctica/Vostok changed its clocks"):
        _ZoneDays(*window(datetime(1994, 11, 20, 18, tzinfo=UTC), 30), 30)("Antarctica/Vostok")
