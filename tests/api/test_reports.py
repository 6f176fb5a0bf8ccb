"""/api/reports: seconds active per day or week in any calendar, who is on now, zones and
session lengths, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import make_member, make_period

# A window (and periods) far enough back that "now" never matters.
NOV = datetime(2025, 11, 1, tzinfo=UTC)


def window(start: datetime, end: datetime, **params) -> dict:
    return {"since": start.isoformat(), "until": end.isoformat(), **params}


async def activity(client, **params) -> dict:
    response = await client.get("/api/reports/activity", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_period_across_midnight_is_split_between_its_days(client):
    member = await make_member("NIGHT", "UTC")
    await make_period(member, NOV + timedelta(hours=22), NOV + timedelta(hours=27))
    report = await activity(client, **window(NOV, NOV + timedelta(days=3)))
    [row] = report["members"]
    assert row["buckets"] == {"2025-11-01": 2 * 3600, "2025-11-02": 3 * 3600}
    assert row["total_seconds"] == 5 * 3600
    assert report["totals"] == {"2025-11-01": 7200, "2025-11-02": 10800, "2025-11-03": 0}
    assert (report["group"], report["tz"]) == ("day", "member")
    assert (report["since"], report["until"]) == ("2025-11-01T00:00:00Z", "2025-11-04T00:00:00Z")


async def test_each_member_is_counted_in_their_own_calendar(client):
    kolkata = await make_member("KOLKATA", "Asia/Kolkata")
    # 20:00-22:00 UTC is 01:30-03:30 the next day in Kolkata.
    await make_period(kolkata, NOV + timedelta(hours=20), NOV + timedelta(hours=22))
    own = await activity(client, **window(NOV, NOV + timedelta(days=2)))
    assert own["members"][0]["buckets"] == {"2025-11-02": 7200}
    utc = await activity(client, **window(NOV, NOV + timedelta(days=2), tz="UTC"))
    assert utc["members"][0]["buckets"] == {"2025-11-01": 7200}
    zoned = await activity(client, **window(NOV, NOV + timedelta(days=2), tz="America/Anchorage"))
    assert (
        zoned["members"][0]["buckets"] == {"2025-11-01": 7200}
        and zoned["tz"] == "America/Anchorage"
    )


@pytest.mark.parametrize(
    ("day", "hours"),
    [(datetime(2026, 3, 8), 23), (datetime(2026, 11, 1), 25), (datetime(2026, 3, 9), 24)],
)
async def test_daylight_saving_days_have_23_or_25_hours(client, day, hours):
    member = await make_member("NEW YORK", "America/New_York")
    # Active from the evening before to the morning after: the whole local day counts.
    start = day.replace(tzinfo=UTC) - timedelta(hours=6)
    await make_period(member, start, start + timedelta(hours=36))
    since = day.replace(tzinfo=UTC) - timedelta(days=2)
    report = await activity(client, **window(since, since + timedelta(days=5)))
    buckets = report["members"][0]["buckets"]
    assert buckets[day.date().isoformat()] == hours * 3600
    assert sum(buckets.values()) == 36 * 3600


async def test_weeks_are_iso_weeks_split_at_monday_midnight(client):
    member = await make_member("WEEKEND", "UTC")
    sunday_night = datetime(2025, 11, 9, 23, tzinfo=UTC)  # Sunday of week 45
    await make_period(member, sunday_night, sunday_night + timedelta(hours=3))
    report = await activity(client, **window(NOV, NOV + timedelta(days=20), group="week"))
    assert report["members"][0]["buckets"] == {"2025-W45": 3600, "2025-W46": 7200}
    assert set(report["totals"]) == {"2025-W44", "2025-W45", "2025-W46", "2025-W47"}


async def test_only_the_part_inside_the_window_counts(client):
    member = await make_member("EDGES", "UTC")
    await make_period(member, NOV - timedelta(hours=1), NOV + timedelta(hours=1))
    await make_period(member, NOV + timedelta(hours=23), NOV + timedelta(hours=26))
    report = await activity(client, **window(NOV, NOV + timedelta(days=1)))
    assert report["members"][0]["buckets"] == {"2025-11-01": 3600 + 3600}


async def test_a_running_session_counts_up_to_now(client, system):
    member = await system.add_member("RUNNING", "UTC")
    started = datetime.now(UTC) - timedelta(hours=2)
    await system.start(member, at=started.isoformat())
    report = await activity(client)
    total = report["members"][0]["total_seconds"]
    assert 2 * 3600 - 120 <= total <= 2 * 3600 + 60
    active = (await client.get("/api/reports/active")).json()
    [on] = active["members"]
    assert (on["id"], on["real_name"]) == (member, "RUNNING")
    assert on["active_since"] == started.replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def test_an_empty_range_has_zero_totals_and_every_member(client):
    await make_member("IDLE", "UTC")
    report = await activity(client, **window(NOV, NOV + timedelta(days=2)))
    assert report["members"] == [
        {"id": report["members"][0]["id"], "real_name": "IDLE", "tz": "UTC", "total_seconds": 0,
         "buckets": {}}
    ]  # fmt: skip
    assert report["totals"] == {"2025-11-01": 0, "2025-11-02": 0}


async def test_top_lists_the_most_active_and_keeps_all_totals(client):
    for index, hours in enumerate((1, 5, 3)):
        member = await make_member(f"M{index}", "UTC")
        await make_period(member, NOV, NOV + timedelta(hours=hours))
    report = await activity(client, **window(NOV, NOV + timedelta(days=1), top=2))
    assert [m["real_name"] for m in report["members"]] == ["M1", "M2"]
    assert report["totals"] == {"2025-11-01": 9 * 3600}


async def test_csv_is_the_same_data_streamed(client):
    member = await make_member('Ada, "the first"', "UTC")
    await make_period(member, NOV + timedelta(hours=22), NOV + timedelta(hours=27))
    for params, headers in (({"format": "csv"}, {}), ({}, {"accept": "text/csv"})):
        response = await client.get(
            "/api/reports/activity",
            params=window(NOV, NOV + timedelta(days=2), **params),
            headers=headers,
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows == [
            ["member_id", "real_name", "tz", "bucket", "seconds"],
            [str(member.id), 'Ada, "the first"', "UTC", "2025-11-01", "7200"],
            [str(member.id), 'Ada, "the first"', "UTC", "2025-11-02", "10800"],
        ]


async def test_zones_and_session_lengths(client):
    for name, tz in (("A", "UTC"), ("B", "UTC"), ("C", "Asia/Kolkata")):
        member = await make_member(name, tz)
        await make_period(member, NOV, NOV + timedelta(minutes=45 if name == "A" else 300))
    zones = (await client.get("/api/reports/zones")).json()["zones"]
    assert zones == [{"tz": "UTC", "members": 2}, {"tz": "Asia/Kolkata", "members": 1}]
    lengths = (
        await client.get("/api/reports/sessions", params=window(NOV, NOV + timedelta(days=1)))
    ).json()["bins"]
    counts = {row["label"]: row["sessions"] for row in lengths}
    assert counts["30-60 min"] == 1 and counts["4-6 h"] == 2 and sum(counts.values()) == 3


async def test_reports_are_cached_per_data_version_with_an_etag(client):
    member = await make_member("CACHED", "UTC")
    params = window(NOV, NOV + timedelta(days=1))
    first = await client.get("/api/reports/activity", params=params)
    again = await client.get(
        "/api/reports/activity", params=params, headers={"if-none-match": first.headers["etag"]}
    )
    assert again.status_code == 304
    await make_period(member, NOV, NOV + timedelta(hours=1))
    changed = await client.get(
        "/api/reports/activity", params=params, headers={"if-none-match": first.headers["etag"]}
    )
    assert changed.status_code == 200
    assert changed.json()["members"][0]["total_seconds"] == 3600
    zipped = await client.get(
        "/api/reports/activity", params=params, headers={"accept-encoding": "gzip"}
    )
    assert zipped.headers["content-encoding"] == "gzip" and zipped.json() == changed.json()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"group": "month"}, "group must be day or week"),
        ({"tz": "Mars/Olympus"}, "not a known IANA time zone"),
        ({"since": "yesterday"}, "since must be an ISO 8601 time"),
        ({"since": "2025-11-02", "until": "2025-11-01"}, "is not before until"),
        ({"since": "2020-01-01", "until": "2025-01-01"}, "the limit is 366 days"),
        ({"format": "xml"}, "format must be json or csv"),
        ({"top": "0"}, "top must be from 1"),
        ({"top": "x"}, "top must be from 1"),
        ({"until": "0001-01-02T00:00:00Z"}, "between the years 1900 and 2999"),
    ],
)
async def test_bad_parameters_get_400_saying_what_to_change(client, params, says):
    response = await client.get("/api/reports/activity", params=params)
    assert response.status_code == 400
    assert response.json()["ok"] is False and says in response.json()["error"]


async def test_reports_follow_the_fetch_token_and_accept_api_keys(db, adapter, client_for):
    from tests.support.client_system import ClientSystem

    guarded = client_for(fetch_token="a-long-read-token-1234")
    assert (await guarded.get("/api/reports/zones")).status_code == 401
    token = {"authorization": "Bearer a-long-read-token-1234"}
    assert (await guarded.get("/api/reports/zones", headers=token)).status_code == 200
    system = await ClientSystem.register(guarded, adapter)
    assert (await system.get("/reports/zones")).status_code == 200
