"""GET /fetch/: the seed document's shape, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from tests.factories import make_member, make_period

SEED_TIME = re.compile(
    r"^(January|February|March|April|May|June|July|August|September|October|November|December)"
    r" \d{2} \d{4} \d{2}:\d{2}$"
)


async def test_fetch_empty_database_lists_no_members(client):
    response = await client.get("/fetch/")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "members": []}


async def test_fetch_matches_seed_shape_field_by_field(client):
    member = await make_member("IYNQSFTFGP", "Africa/Djibouti")
    await make_period(
        member,
        datetime(2020, 6, 20, 14, 29, tzinfo=UTC),
        datetime(2020, 7, 20, 14, 29, tzinfo=UTC),
    )
    body = (await client.get("/fetch/")).json()
    assert list(body) == ["ok", "members"]
    assert body["ok"] is True
    [entry] = body["members"]
    assert list(entry) == ["id", "real_name", "tz", "activity"]
    assert entry == {
        "id": str(member.id),
        "real_name": "IYNQSFTFGP",
        "tz": "Africa/Djibouti",
        "activity": [{"start_time": "June 20 2020 14:29", "end_time": "July 20 2020 14:29"}],
    }


async def test_fetch_pads_day_and_time_with_zeros(client):
    member = await make_member()
    await make_period(
        member,
        datetime(2020, 6, 5, 9, 7, tzinfo=UTC),
        datetime(2020, 6, 5, 9, 7, 59, tzinfo=UTC),
    )
    [entry] = (await client.get("/fetch/")).json()["members"]
    assert entry["activity"] == [
        {"start_time": "June 05 2020 09:07", "end_time": "June 05 2020 09:07"}
    ]
    assert SEED_TIME.match(entry["activity"][0]["start_time"])


async def test_fetch_renders_other_offsets_in_utc(client):
    member = await make_member(tz="Asia/Kolkata")
    ist = timezone(timedelta(hours=5, minutes=30))
    await make_period(
        member,
        datetime(2020, 1, 1, 1, 0, tzinfo=ist),
        datetime(2020, 1, 1, 3, 45, tzinfo=ist),
    )
    [entry] = (await client.get("/fetch/")).json()["members"]
    assert entry["activity"] == [
        {"start_time": "December 31 2019 19:30", "end_time": "December 31 2019 22:15"}
    ]


async def test_fetch_lists_members_without_periods(client):
    await make_member("LONELY")
    body = (await client.get("/fetch/")).json()
    assert body["members"][0]["real_name"] == "LONELY"
    assert body["members"][0]["activity"] == []


async def test_fetch_orders_members_by_name_then_id(client):
    made = [await make_member(name) for name in ["bravo", "Alpha", "alpha", "Charlie", "alpha"]]
    twins = sorted(str(m.id) for m in made if m.real_name == "alpha")
    body = (await client.get("/fetch/")).json()
    names = [m["real_name"] for m in body["members"]]
    # Byte order, identical on both engines: upper case sorts before lower case.
    assert names == ["Alpha", "Charlie", "alpha", "alpha", "bravo"]
    assert [m["id"] for m in body["members"] if m["real_name"] == "alpha"] == twins


async def test_fetch_orders_each_members_periods_by_start(client):
    member = await make_member()
    base = datetime(2021, 3, 1, tzinfo=UTC)
    for day in [5, 1, 3]:
        await make_period(member, base + timedelta(days=day), base + timedelta(days=day, hours=2))
    [entry] = (await client.get("/fetch/")).json()["members"]
    assert [p["start_time"] for p in entry["activity"]] == [
        "March 02 2021 00:00",
        "March 04 2021 00:00",
        "March 06 2021 00:00",
    ]


async def test_fetch_keeps_each_period_with_its_member(client):
    first, second = await make_member("AAA"), await make_member("BBB")
    await make_period(first, datetime(2020, 1, 1, tzinfo=UTC))
    await make_period(second, datetime(2021, 1, 1, tzinfo=UTC))
    await make_period(second, datetime(2022, 1, 1, tzinfo=UTC))
    body = (await client.get("/fetch/")).json()
    assert [len(m["activity"]) for m in body["members"]] == [1, 2]
    assert body["members"][0]["activity"][0]["start_time"].endswith("2020 00:00")


async def test_fetch_is_in_openapi_with_response_schema(client):
    schema = (await client.get("/schema/openapi.json")).json()
    operation = schema["paths"]["/fetch"]["get"]
    body_schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    # One schema per style (seed and fullthrottle), each a named component.
    refs = [item["$ref"] for item in body_schema.get("anyOf", [body_schema])]
    assert refs
    for ref in refs:
        component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(component["properties"]) >= {"ok", "members"}


async def test_unknown_path_gets_json_error(client):
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "Not Found"}
