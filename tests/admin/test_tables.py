"""The admin over HTTP, as its UI calls it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from home.roster.tables import ActivityPeriod, Member
from tests.factories import make_member, make_period
from tests.support.admin import AdminSession, create_admin_user, logged_in

# Piccolo API warns on every login while the admin runs with production=False (plain-HTTP
# cookies); that setting belongs to the deployment, not to what these tests check.
# Piccolo also warns that SQLite has no ILIKE when the admin searches by name (LIKE is already
# case-insensitive for ASCII there, which the search test proves).
pytestmark = [
    pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*SQLite doesn't support ILIKE"),
]

START = datetime(2021, 3, 4, 9, 15, tzinfo=UTC)


@pytest.fixture
async def admin(client) -> AdminSession:
    """A logged-in admin session against the test database."""
    return await logged_in(client)


def period_body(member, start: datetime, end: datetime) -> dict:
    return {"member": str(member.id), "start_time": start.isoformat(), "end_time": end.isoformat()}


async def test_admin_is_named_for_the_service(client):
    meta = (await client.get("/admin/public/meta/")).json()
    assert meta["site_name"] == "Roster Admin"


async def test_admin_refuses_a_wrong_password(client):
    await create_admin_user()
    session = await AdminSession(client).open()
    response = await session.login(password="wrong-password")
    assert response.status_code == 401
    assert (await client.get("/admin/api/tables/member/")).status_code == 401


async def test_member_list_shows_name_and_zone_sorted_by_name(admin):
    schema = (await admin.get("/tables/member/schema/")).json()
    extra = schema["extra"]
    assert extra["visible_column_names"] == ["real_name", "tz"]
    assert extra["visible_filter_names"] == ["real_name", "tz"]
    assert extra["order_by"][0] == {"column": "real_name", "ascending": True}
    assert extra["link_column_name"] == "real_name"
    zones = schema["properties"]["tz"]["extra"]["choices"]
    assert zones["Asia/Kolkata"] == {"display_name": "Asia/Kolkata", "value": "Asia/Kolkata"}
    assert "Mars/Olympus_Mons" not in zones


async def test_member_search_and_zone_filter_find_the_right_members(admin):
    await make_member("ALICE SMITH", "Europe/Paris")
    await make_member("BOB SMITH", "Asia/Kolkata")
    await make_member("CAROL JONES", "Europe/Paris")
    by_name = (await admin.get("/tables/member/", real_name="smith", __order="real_name")).json()
    assert [row["real_name"] for row in by_name["rows"]] == ["ALICE SMITH", "BOB SMITH"]
    by_zone = (await admin.get("/tables/member/", tz="Europe/Paris", __order="real_name")).json()
    assert [row["real_name"] for row in by_zone["rows"]] == ["ALICE SMITH", "CAROL JONES"]


async def test_period_list_shows_member_name_and_duration_newest_first(admin):
    member = await make_member("DURATION CHECK")
    await make_period(member, START, START + timedelta(hours=2, minutes=30))
    await make_period(member, START + timedelta(days=1), START + timedelta(days=1, seconds=59))
    schema = (await admin.get("/tables/activity_period/schema/")).json()["extra"]
    assert schema["visible_column_names"] == ["member", "start_time", "end_time", "duration"]
    assert schema["visible_filter_names"] == ["member", "start_time", "end_time"]
    assert schema["order_by"] == [{"column": "start_time", "ascending": False}]

    body = (
        await admin.get(
            "/tables/activity_period/",
            __readable="true",
            __order="-start_time",
            __visible_fields="member,start_time,end_time,duration",
        )
    ).json()
    assert [row["member_readable"] for row in body["rows"]] == ["DURATION CHECK"] * 2
    assert [row["duration"] for row in body["rows"]] == ["PT59S", "PT2H30M"]


async def test_period_filters_by_member_and_time(admin):
    alice, bob = await make_member("ALICE"), await make_member("BOB")
    await make_period(alice, START, START + timedelta(hours=1))
    await make_period(alice, START + timedelta(days=10), START + timedelta(days=10, hours=1))
    await make_period(bob, START, START + timedelta(hours=1))
    mine = (await admin.get("/tables/activity_period/", member=str(alice.id))).json()["rows"]
    assert len(mine) == 2
    later = (
        await admin.get(
            "/tables/activity_period/",
            start_time=(START + timedelta(days=1)).isoformat(),
            start_time__operator="gte",
        )
    ).json()["rows"]
    assert [row["member"] for row in later] == [str(alice.id)]


async def test_member_page_links_to_their_periods(admin):
    references = (await admin.get("/tables/member/references/")).json()["references"]
    assert references == [{"tableName": "activity_period", "columnName": "member"}]


async def test_create_member_with_a_listed_zone(admin):
    response = await admin.send(
        "POST", "/api/tables/member/", {"real_name": "NEW MEMBER", "tz": "Asia/Kolkata"}
    )
    assert response.status_code == 201, response.text
    [member] = await Member.select(Member.real_name, Member.tz)
    assert member == {"real_name": "NEW MEMBER", "tz": "Asia/Kolkata"}
    fetched = (await admin.http.get("/fetch/")).json()["members"]
    assert [(m["real_name"], m["tz"]) for m in fetched] == [("NEW MEMBER", "Asia/Kolkata")]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"real_name": "OK", "tz": "Mars/Olympus_Mons"}, "tz", "is not a known IANA time zone"),
        ({"real_name": "", "tz": "UTC"}, "real_name", "real_name must not be empty"),
        ({"real_name": "   ", "tz": "UTC"}, "real_name", "real_name must not be empty"),
    ],
)
async def test_create_member_with_bad_values_is_refused_and_stores_nothing(
    admin, body, field, message
):
    response = await admin.send("POST", "/api/tables/member/", body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert message in error["msg"]
    assert await Member.count() == 0


async def test_create_member_with_an_over_long_name_is_refused(admin):
    response = await admin.send(
        "POST", "/api/tables/member/", {"real_name": "X" * 101, "tz": "UTC"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "real_name"],
            "msg": "real_name is 101 characters long; the limit is 100",
            "type": "value_error",
        }
    ]
    assert await Member.count() == 0


async def test_rename_member_to_an_over_long_name_is_refused(admin):
    member = await make_member("SHORT")
    response = await admin.send(
        "PATCH", f"/api/tables/member/{member.id}/", {"real_name": "Y" * 150}
    )
    assert response.status_code == 422
    assert "the limit is 100" in response.json()["detail"][0]["msg"]
    assert (await Member.select(Member.real_name).first())["real_name"] == "SHORT"


async def test_edit_member_to_a_bad_zone_is_refused_and_keeps_the_old_one(admin):
    member = await make_member("KEEP ME", "Europe/Paris")
    response = await admin.send("PATCH", f"/api/tables/member/{member.id}/", {"tz": "Nowhere/City"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tz"]
    assert (await Member.select(Member.tz).first())["tz"] == "Europe/Paris"


async def test_edit_member_name_shows_on_fetch(admin):
    member = await make_member("OLD NAME")
    response = await admin.send("PATCH", f"/api/tables/member/{member.id}/", {"real_name": "NEW"})
    assert response.status_code == 200, response.text
    [fetched] = (await admin.http.get("/fetch/")).json()["members"]
    assert fetched["real_name"] == "NEW"


async def test_put_is_refused_because_it_skips_the_checks(admin):
    member = await make_member("PUT TARGET", "UTC")
    response = await admin.send(
        "PUT", f"/api/tables/member/{member.id}/", {"real_name": "PUT TARGET", "tz": "Bad/Zone"}
    )
    assert response.status_code == 405
    assert (await Member.select(Member.tz).first())["tz"] == "UTC"


async def test_create_period_stores_it_and_fetch_shows_it(admin):
    member = await make_member("PERIOD OWNER")
    body = period_body(member, START, START + timedelta(minutes=45))
    body["duration"] = 999_999  # computed by the database; whatever the form sends is ignored
    response = await admin.send("POST", "/api/tables/activity_period/", body)
    assert response.status_code == 201, response.text
    [fetched] = (await admin.http.get("/fetch/")).json()["members"]
    assert fetched["activity"] == [
        {"start_time": "March 04 2021 09:15", "end_time": "March 04 2021 10:00"}
    ]
    [row] = (await admin.get("/tables/activity_period/")).json()["rows"]
    assert row["duration"] == "PT45M"


async def test_create_period_ending_before_start_is_refused_and_stores_nothing(admin):
    member = await make_member()
    body = period_body(member, START, START - timedelta(minutes=1))
    response = await admin.send("POST", "/api/tables/activity_period/", body)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "end_time"]
    assert "a period must end at or after its start" in error["msg"]
    assert await ActivityPeriod.count() == 0


async def test_edit_period_to_end_before_start_is_refused_and_keeps_it(admin):
    member = await make_member()
    period = await make_period(member, START, START + timedelta(hours=1))
    response = await admin.send(
        "PATCH",
        f"/api/tables/activity_period/{period.id}/",
        {"start_time": (START + timedelta(hours=2)).isoformat()},
    )
    assert response.status_code == 422
    assert "before start_time" in response.json()["detail"][0]["msg"]
    row = await ActivityPeriod.select(ActivityPeriod.start_time).first()
    assert row["start_time"] == START


async def test_edit_period_updates_its_duration(admin):
    member = await make_member()
    period = await make_period(member, START, START + timedelta(hours=1))
    response = await admin.send(
        "PATCH",
        f"/api/tables/activity_period/{period.id}/",
        {"end_time": (START + timedelta(hours=3)).isoformat(), "duration": 5},
    )
    assert response.status_code == 200, response.text
    [row] = (await admin.get("/tables/activity_period/")).json()["rows"]
    assert row["duration"] == "PT3H"
    [fetched] = (await admin.http.get("/fetch/")).json()["members"]
    assert fetched["activity"][0]["end_time"] == "March 04 2021 12:15"


async def test_delete_member_removes_their_periods(admin):
    gone, kept = await make_member("GONE"), await make_member("KEPT")
    await make_period(gone)
    await make_period(kept)
    response = await admin.send("DELETE", f"/api/tables/member/{gone.id}/")
    assert response.status_code == 204
    assert await ActivityPeriod.count() == 1
    fetched = (await admin.http.get("/fetch/")).json()["members"]
    assert [m["real_name"] for m in fetched] == ["KEPT"]


async def test_csv_export_pages_carry_names_and_durations(admin):
    member = await make_member("CSV MEMBER")
    await make_period(member, START, START + timedelta(hours=1))
    # What the admin's "Export CSV" button requests, page by page.
    count = (await admin.get("/tables/activity_period/count/")).json()["count"]
    rows = (
        await admin.get("/tables/activity_period/", __readable="true", __page_size=1000, __page=1)
    ).json()["rows"]
    assert count == 1
    assert rows[0]["member_readable"] == "CSV MEMBER"
    assert rows[0]["duration"] == "PT1H"
    members = (await admin.get("/tables/member/", __readable="true", __page_size=1000)).json()
    assert [(m["real_name"], m["tz"]) for m in members["rows"]] == [("CSV MEMBER", "UTC")]


async def test_demo_form_creates_members_with_periods(admin):
    response = await admin.send(
        "POST", "/api/forms/generate-demo-members/", {"count": 4, "periods": 2}
    )
    assert response.status_code == 200, response.text
    assert response.json()["custom_form_success"].startswith(
        "Created 4 members and 8 activity periods"
    )
    assert await Member.count() == 4
    assert await ActivityPeriod.count() == 8
    assert len((await admin.http.get("/fetch/")).json()["members"]) == 4


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"count": 0, "periods": 3}, "count must be from 1 to 10,000, not 0"),
        ({"count": 10_001, "periods": 3}, "count must be from 1 to 10,000, not 10,001"),
        ({"count": 1_000_000, "periods": 100}, "count must be from 1 to 10,000, not 1,000,000"),
        ({"count": 5, "periods": 21}, "periods must be from 0 to 20, not 21"),
        ({"count": 5, "periods": -1}, "periods must be from 0 to 20, not -1"),
    ],
)
async def test_demo_form_refuses_counts_outside_its_limits(admin, body, message):
    response = await admin.send("POST", "/api/forms/generate-demo-members/", body)
    assert response.status_code == 422
    assert response.json() == {"custom_form_error": message}
    assert await Member.count() == 0


@pytest.mark.parametrize("count", ["lots", True, 2.5])
async def test_demo_form_refuses_a_count_that_is_not_a_number(admin, count):
    response = await admin.send(
        "POST", "/api/forms/generate-demo-members/", {"count": count, "periods": 3}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["count"]
    assert await Member.count() == 0


@pytest.mark.parametrize("table", ["member", "activity_period"])
async def test_edit_refuses_a_new_id_and_keeps_the_row(admin, table):
    member = await make_member("KEEPS ITS ID")
    period = await make_period(member, START, START + timedelta(hours=1))
    row_id, new_id = (
        (member.id, "00000000-0000-4000-8000-000000000000")
        if table == "member"
        else (period.id, period.id + 1000)
    )
    response = await admin.send("PATCH", f"/api/tables/{table}/{row_id}/", {"id": str(new_id)})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "id"] and "id cannot be changed" in error["msg"]
    assert await Member.select(Member.id).output(as_list=True) == [member.id]
    assert await ActivityPeriod.select(ActivityPeriod.id).output(as_list=True) == [period.id]


@pytest.mark.parametrize(
    ("table", "body", "field", "message"),
    [
        ("member", {}, "body", "nothing to change"),
        ("activity_period", {}, "body", "nothing to change"),
        ("activity_period", {"duration": "P1D"}, "duration", "worked out by the database"),
    ],
)
async def test_edit_that_changes_nothing_is_refused_with_a_reason(
    admin, table, body, field, message
):
    member = await make_member("UNCHANGED")
    period = await make_period(member, START, START + timedelta(hours=1))
    row_id = member.id if table == "member" else period.id
    response = await admin.send("PATCH", f"/api/tables/{table}/{row_id}/", body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", field] and message in error["msg"]


async def test_edit_of_a_row_that_is_gone_is_404(admin):
    member = await make_member("GONE")
    await Member.delete().where(Member.id == member.id)
    response = await admin.send("PATCH", f"/api/tables/member/{member.id}/", {"tz": "UTC"})
    assert response.status_code == 404


async def test_times_without_an_offset_are_taken_as_utc(admin):
    naive = await make_member("NAIVE")
    aware = await make_member("AWARE")
    for member, suffix in ((naive, ""), (aware, "+00:00")):
        body = {
            "member": str(member.id),
            "start_time": f"2020-06-01T10:00:00{suffix}",
            "end_time": "2020-06-01T11:00:00Z",  # mixed with the other: no 500
        }
        response = await admin.send("POST", "/api/tables/activity_period/", body)
        assert response.status_code == 201, response.text
    [naive_period, aware_period] = await ActivityPeriod.select(
        ActivityPeriod.start_time, ActivityPeriod.end_time
    ).order_by(ActivityPeriod.id)
    assert naive_period == aware_period
    assert naive_period["start_time"] == datetime(2020, 6, 1, 10, tzinfo=UTC)
    window = (await admin.http.get("/fetch/?since=2020-06-01T10:30:00Z")).json()["members"]
    assert sorted(m["real_name"] for m in window) == ["AWARE", "NAIVE"]
    # An edit with a naive end is compared, and stored, as UTC too.
    period_id = (await ActivityPeriod.select(ActivityPeriod.id).first())["id"]
    response = await admin.send(
        "PATCH", f"/api/tables/activity_period/{period_id}/", {"end_time": "2020-06-01T09:00:00"}
    )
    assert response.status_code == 422
    assert "before start_time" in response.json()["detail"][0]["msg"]
    response = await admin.send(
        "PATCH", f"/api/tables/activity_period/{period_id}/", {"end_time": "2020-06-01T12:00:00"}
    )
    assert response.status_code == 200, response.text
    row = await ActivityPeriod.select(ActivityPeriod.end_time).where(ActivityPeriod.id == period_id)
    assert row[0]["end_time"] == datetime(2020, 6, 1, 12, tzinfo=UTC)


async def test_period_years_are_judged_in_utc(admin):
    member = await make_member()
    body = {
        "member": str(member.id),
        "start_time": "1900-01-01T00:30:00+05:00",  # 1899-12-31 19:30 UTC
        "end_time": "1900-01-01T02:00:00+05:00",
    }
    response = await admin.send("POST", "/api/tables/activity_period/", body)
    assert response.status_code == 422
    assert "year 1899 (UTC)" in response.json()["detail"][0]["msg"]
    assert await ActivityPeriod.count() == 0


async def test_name_with_a_lone_surrogate_is_refused_not_a_500(admin):
    raw = '{"real_name": "a\\ud800b", "tz": "UTC"}'
    headers = {
        "X-CSRFToken": admin.http.cookies.get("csrftoken", ""),
        "content-type": "application/json",
    }
    response = await admin.http.post("/admin/api/tables/member/", content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert "lone UTF-16 surrogate" in response.json()["detail"][0]["msg"]
    member = await make_member("SURROGATE")
    response = await admin.http.patch(
        f"/admin/api/tables/member/{member.id}/",
        content=raw.replace(', "tz": "UTC"', ""),
        headers=headers,
    )
    assert response.status_code == 422, response.text
    assert await Member.select(Member.real_name).output(as_list=True) == ["SURROGATE"]


async def test_nul_in_an_admin_filter_is_400_not_a_500(admin):
    await make_member("FILTERED")
    response = await admin.get("/tables/member/", real_name="a\x00b")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert (await admin.get("/tables/member/", real_name="FILT")).json()["rows"]


async def test_a_body_that_never_arrives_whole_writes_nothing(app, admin):
    """Make sure a write whose client goes away mid-body never reaches the admin as whole."""
    body = b'{"real_name": "TRUNCATED", "tz": "UTC"}'
    headers = [
        (b"host", b"testserver"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body) + 1000).encode()),
        (b"x-csrftoken", admin.http.cookies["csrftoken"].encode()),
        (b"cookie", "; ".join(f"{k}={v}" for k, v in admin.http.cookies.items()).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/admin/api/tables/member/",
        "raw_path": b"/admin/api/tables/member/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages = [
        {"type": "http.request", "body": body, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert await Member.count() == 0
    assert not [m for m in sent if m["type"] == "http.response.start" and m["status"] == 201]


async def test_a_body_that_is_not_utf8_is_refused_not_a_500(admin):
    raw = b'{"real_name": "a\xed\xa0\x80b", "tz": "UTC"}'  # an encoded surrogate
    headers = {"X-CSRFToken": admin.http.cookies["csrftoken"], "content-type": "application/json"}
    response = await admin.http.post("/admin/api/tables/member/", content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert "not valid UTF-8" in response.json()["detail"][0]["msg"]
    assert await Member.count() == 0


async def test_a_member_named_null_is_a_name(admin):
    """Make sure the text "null" stays text where the column cannot be NULL."""
    response = await admin.send("POST", "/api/tables/member/", {"real_name": "Null", "tz": "UTC"})
    assert response.status_code == 201, response.text
    member_id = response.json()[0]["id"]
    response = await admin.send("PATCH", f"/api/tables/member/{member_id}/", {"real_name": "NULL"})
    assert response.status_code == 200, response.text
    assert [m["real_name"] for m in (await admin.http.get("/fetch/")).json()["members"]] == ["NULL"]
    found = await admin.get("/tables/member/", real_name="null")
    assert [row["real_name"] for row in found.json()["rows"]] == ["NULL"]


BAD_BODIES = [
    # (path, content type, body, what the 422 says)
    ("/public/login/", None, b'{"username": "a\\ud800", "password": "x"}', "lone UTF-16"),
    ("/public/login/", "text/plain", b'{"username": "a\\ud800", "password": "x"}', "lone UTF-16"),
    ("/public/login/", None, b'{"username": "a\\u0000", "password": "x"}', "NUL"),
    ("/public/login/", "application/x-www-form-urlencoded", b"username=a%00&password=x", "NUL"),
    ("/public/login/", None, b'{"username": "a\xed\xa0\x80", "password": "x"}', "not valid UTF-8"),
    ("/api/tables/member/", "application/merge-patch+json", b'{"real_name": "X\\ud800"}', "lone"),
    ("/api/tables/member/", "text/plain", b'{"real_name": "\xff", "tz": "UTC"}', "not valid UTF-8"),
    ("/api/forms/generate-demo-members/", None, b'{"count": NaN, "periods": 3}', "NaN"),
    ("/api/forms/generate-demo-members/", None, b'{"count": 1e400, "periods": 3}', "NaN"),
]


@pytest.mark.parametrize(("path", "content_type", "body", "message"), BAD_BODIES)
async def test_bodies_the_admin_cannot_take_get_422_whatever_their_type(
    admin, path, content_type, body, message
):
    """Make sure text that is not text never reaches the admin (it answered 500)."""
    headers = {"X-CSRFToken": admin.http.cookies["csrftoken"]}
    if content_type:
        headers["content-type"] = content_type
    response = await admin.http.post(f"/admin{path}", content=body, headers=headers)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"][0]["msg"]
    assert await Member.count() == 0
