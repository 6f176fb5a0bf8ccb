"""Property tests (hypothesis): the seed time format and populate's generated data."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from home.roster.demo import AFTERNOON, MORNING, generate
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


@given(moments, moments)
def test_seed_format_sorts_like_time_within_a_month(first, second):
    a, b = first.astimezone(UTC), second.astimezone(UTC)
    if (a.year, a.month) == (b.year, b.month) and a.replace(second=0, microsecond=0) < b.replace(
        second=0, microsecond=0
    ):
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
    window_end = now.replace(hour=0, minute=0, second=0, microsecond=0) if seed is not None else now
    window_end = window_end.replace(microsecond=0)
    for member, spans in rows:
        check_real_name(member.real_name)
        check_tz(member.tz)
        assert len(member.real_name) == 10 and set(member.real_name) <= set(string.ascii_uppercase)
        assert len(spans) == periods
        zone = ZoneInfo(member.tz)
        for start, end in spans:
            check_period(start, end)
            assert timedelta(minutes=15) <= end - start <= timedelta(hours=9)
            assert window_end - timedelta(days=days + 1) <= start and end <= window_end
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
