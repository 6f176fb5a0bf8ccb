"""`style=fullthrottle` (the original assignment's dialect) next to the default seed style."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from home.roster.timefmt import format_fullthrottle, zone_named
from tests.factories import make_member, make_period


async def fullthrottle(client) -> list[dict]:
    response = await client.get("/fetch/?style=fullthrottle")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["ok", "members"]
    return body["members"]


async def test_fullthrottle_uses_activity_periods_and_the_members_zone(client):
    member = await make_member("EGON SPENGLER", "America/Los_Angeles")
    await make_period(
        member,
        datetime(2020, 2, 1, 21, 33, tzinfo=UTC),
        datetime(2020, 2, 1, 22, 54, tzinfo=UTC),
    )
    [entry] = await fullthrottle(client)
    assert list(entry) == ["id", "real_name", "tz", "activity_periods"]
    assert entry["activity_periods"] == [
        {"start_time": "Feb 1 2020 1:33PM", "end_time": "Feb 1 2020 2:54PM"}
    ]


async def test_seed_style_is_the_default_byte_for_byte(client):
    member = await make_member("ALPHA", "Asia/Kolkata")
    await make_period(member)
    plain = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    seed = await client.get("/fetch/?style=seed", headers={"accept-encoding": "identity"})
    assert seed.content == plain.content
    assert plain.content.startswith(b'{"ok":true,"members":[{"id":')
    assert b'"activity":[' in plain.content


async def test_fullthrottle_respects_spring_forward(client):
    member = await make_member("NY", "America/New_York")
    # 2020-03-08: clocks jump from 1:59:59 EST to 3:00 EDT at 07:00 UTC.
    await make_period(
        member,
        datetime(2020, 3, 8, 6, 59, tzinfo=UTC),
        datetime(2020, 3, 8, 7, 0, tzinfo=UTC),
    )
    [entry] = await fullthrottle(client)
    assert entry["activity_periods"] == [
        {"start_time": "Mar 8 2020 1:59AM", "end_time": "Mar 8 2020 3:00AM"}
    ]


async def test_fullthrottle_respects_fall_back(client):
    member = await make_member("NY", "America/New_York")
    # 2020-11-01: 1:30 AM happens twice, first in EDT (05:30 UTC) and then in EST (06:30 UTC).
    await make_period(
        member,
        datetime(2020, 11, 1, 5, 30, tzinfo=UTC),
        datetime(2020, 11, 1, 6, 30, tzinfo=UTC),
    )
    await make_period(
        member,
        datetime(2020, 11, 1, 12, 0, tzinfo=UTC),
        datetime(2020, 11, 2, 0, 5, tzinfo=UTC),
    )
    [entry] = await fullthrottle(client)
    assert entry["activity_periods"] == [
        {"start_time": "Nov 1 2020 1:30AM", "end_time": "Nov 1 2020 1:30AM"},
        {"start_time": "Nov 1 2020 7:00AM", "end_time": "Nov 1 2020 7:05PM"},
    ]


async def test_fullthrottle_noon_midnight_and_date_line(client):
    member = await make_member("KIRITIMATI", "Pacific/Kiritimati")
    # UTC+14: 10:00 UTC on Dec 31 is midnight on Jan 1 there; 22:00 UTC is noon.
    await make_period(
        member,
        datetime(2019, 12, 31, 10, 0, tzinfo=UTC),
        datetime(2019, 12, 31, 22, 0, tzinfo=UTC),
    )
    [entry] = await fullthrottle(client)
    assert entry["activity_periods"] == [
        {"start_time": "Jan 1 2020 12:00AM", "end_time": "Jan 1 2020 12:00PM"}
    ]


async def test_fullthrottle_orders_periods_by_start(client):
    member = await make_member("ORDER", "Europe/Paris")
    base = datetime(2021, 3, 1, tzinfo=UTC)
    for day in [3, 1, 2]:
        await make_period(member, base + timedelta(days=day), base + timedelta(days=day, hours=1))
    [entry] = await fullthrottle(client)
    assert [p["start_time"] for p in entry["activity_periods"]] == [
        "Mar 2 2021 1:00AM",
        "Mar 3 2021 1:00AM",
        "Mar 4 2021 1:00AM",
    ]


async def test_fullthrottle_lists_members_without_periods(client):
    await make_member("LONELY", "UTC")
    assert (await fullthrottle(client))[0]["activity_periods"] == []


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        (datetime(2020, 2, 1, 13, 33, tzinfo=UTC), "UTC", "Feb 1 2020 1:33PM"),
        (datetime(2020, 3, 1, 11, 11, tzinfo=UTC), "UTC", "Mar 1 2020 11:11AM"),
        (datetime(2020, 3, 16, 5, 33, tzinfo=UTC), "Asia/Kolkata", "Mar 16 2020 11:03AM"),
        (datetime(2020, 12, 31, 23, 59, tzinfo=UTC), "UTC", "Dec 31 2020 11:59PM"),
        (datetime(2020, 7, 4, 0, 0, tzinfo=UTC), "UTC", "Jul 4 2020 12:00AM"),
        (datetime(2020, 7, 4, 12, 0, tzinfo=UTC), "UTC", "Jul 4 2020 12:00PM"),
        (datetime(2020, 7, 4, 12, 0, tzinfo=UTC), "No/Such_Zone", "Jul 4 2020 12:00PM"),
    ],
)
def test_fullthrottle_time_format(moment, zone, expected):
    assert format_fullthrottle(moment, zone_named(zone)) == expected


async def test_openapi_documents_both_styles_and_every_optional_parameter(client):
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/fetch"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert set(parameters) == {"style", "limit", "cursor", "tz", "name", "since", "until"}
    assert not any(p["required"] for p in parameters.values())
    assert "fullthrottle" in parameters["style"]["description"]
    body = operation["responses"]["200"]["content"]["application/json"]
    refs = {item["$ref"].rsplit("/", 1)[1] for item in body["schema"]["anyOf"]}
    assert refs == {"FetchResponse", "FullThrottleResponse"}
    members = schema["components"]["schemas"]["FullThrottleMember"]["properties"]
    assert "activity_periods" in members
    assert operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )
    assert "304" in operation["responses"]


async def test_fullthrottle_survives_times_at_the_edge_of_the_calendar(client, db):
    member = await make_member("EDGE", "Asia/Tokyo")
    # Raw SQL can store what the admin refuses; Tokyo's offset would pass year 9999.
    late = datetime(9999, 12, 31, 20, 0, tzinfo=UTC)
    await make_period(member, late, late)
    response = await client.get("/fetch/?style=fullthrottle")
    assert response.status_code == 200
    [entry] = response.json()["members"]
    assert entry["activity_periods"] == [
        {"start_time": "Dec 31 9999 8:00PM", "end_time": "Dec 31 9999 8:00PM"}
    ]
