"""/fetch/ paging, filters and parameter errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from home.fetch_query import Position, encode_cursor
from tests.factories import make_member, make_period

UTC = UTC
DAY = datetime(2021, 5, 10, tzinfo=UTC)


async def fetch(client, query: str = "") -> dict:
    response = await client.get("/fetch/" + query)
    assert response.status_code == 200, response.text
    return response.json()


async def follow_pages(client, query: str, between=None) -> list[dict]:
    """Every page from the first to the one whose `next` is null."""
    pages = []
    cursor = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = await fetch(client, f"?{query}{suffix}")
        pages.append(page)
        cursor = page["next"]
        if cursor is None:
            return pages
        if between is not None:
            await between(len(pages))
        assert len(pages) < 100, "paging does not end"


async def test_limit_pages_through_members_in_order(client):
    names = ["delta", "Alpha", "charlie", "bravo", "echo", "Foxtrot", "golf"]
    for name in names:
        await make_member(name)
    everyone = [m["real_name"] for m in (await fetch(client))["members"]]
    pages = await follow_pages(client, "limit=3")
    assert [len(page["members"]) for page in pages] == [3, 3, 1]
    assert [m["real_name"] for page in pages for m in page["members"]] == everyone
    assert list(pages[0]) == ["ok", "members", "next"]
    assert pages[-1]["next"] is None


async def test_limit_exactly_the_roster_size_ends_with_null_next(client):
    for name in ["A", "B"]:
        await make_member(name)
    page = await fetch(client, "?limit=2")
    assert [m["real_name"] for m in page["members"]] == ["A", "B"]
    assert page["next"] is None


async def test_limit_on_empty_roster(client):
    assert await fetch(client, "?limit=10") == {"ok": True, "members": [], "next": None}


async def test_paging_keeps_each_members_periods_together(client):
    for index in range(5):
        member = await make_member(f"M{index}")
        for day in range(index):
            await make_period(member, DAY + timedelta(days=day))
    pages = await follow_pages(client, "limit=2")
    counts = [len(m["activity"]) for page in pages for m in page["members"]]
    assert counts == [0, 1, 2, 3, 4]


async def test_paging_visits_every_member_once_while_others_are_added(client):
    originals = [await make_member(f"N{index:02d}") for index in range(20)]
    added = []

    async def add_members(page_number: int) -> None:
        # One before every cursor position, one after, one with the same name as a visited one.
        added.append(await make_member(f"A{page_number:02d}"))
        added.append(await make_member(f"Z{page_number:02d}"))
        added.append(await make_member(f"N{page_number:02d}"))

    pages = await follow_pages(client, "limit=4", between=add_members)
    seen = [m["id"] for page in pages for m in page["members"]]
    assert len(seen) == len(set(seen)), "a member was listed twice"
    assert {str(m.id) for m in originals} <= set(seen)


async def test_cursor_of_a_deleted_member_still_continues(client):
    members = [await make_member(f"P{index}") for index in range(6)]
    first = await fetch(client, "?limit=2")
    await members[1].remove()
    rest = await follow_pages(client, f"limit=2&cursor={first['next']}")
    assert [m["real_name"] for page in rest for m in page["members"]] == ["P2", "P3", "P4", "P5"]


async def test_tz_filter_is_exact(client):
    await make_member("KOLKATA", "Asia/Kolkata")
    await make_member("CALCUTTA", "Asia/Calcutta")
    await make_member("UTC", "UTC")
    body = await fetch(client, "?tz=Asia/Kolkata")
    assert [m["real_name"] for m in body["members"]] == ["KOLKATA"]
    assert list(body) == ["ok", "members"]


async def test_name_filter_is_a_case_insensitive_substring(client):
    for name in ["Jonathan", "JOHN", "mojo", "Alice"]:
        await make_member(name)
    body = await fetch(client, "?name=jo")
    assert [m["real_name"] for m in body["members"]] == ["JOHN", "Jonathan", "mojo"]
    body = await fetch(client, "?name=%25")
    assert body["members"] == []


async def test_time_window_lists_only_overlapping_periods(client):
    early = await make_member("EARLY")
    await make_period(early, DAY - timedelta(days=5), DAY - timedelta(days=4))
    spanning = await make_member("SPANNING")
    await make_period(spanning, DAY - timedelta(days=1), DAY + timedelta(days=1))
    await make_period(spanning, DAY + timedelta(days=9), DAY + timedelta(days=10))
    inside = await make_member("INSIDE")
    await make_period(inside, DAY + timedelta(hours=2), DAY + timedelta(hours=3))
    await make_member("NOPERIODS")
    body = await fetch(client, "?since=2021-05-10T00:00:00Z&until=2021-05-11T00:00:00Z")
    assert [m["real_name"] for m in body["members"]] == ["INSIDE", "SPANNING"]
    assert [len(m["activity"]) for m in body["members"]] == [1, 1]
    assert body["members"][1]["activity"][0]["start_time"] == "May 09 2021 00:00"


async def test_window_edges_are_inclusive_and_offsets_are_honoured(client):
    member = await make_member("EDGE")
    await make_period(member, DAY, DAY + timedelta(hours=1))
    # Ends exactly when the window starts: overlapping.
    body = await fetch(client, "?since=2021-05-10T01:00:00%2B00:00")
    assert len(body["members"]) == 1
    # The same instant written in another offset.
    body = await fetch(client, "?until=2021-05-10T05:30:00%2B05:30")
    assert len(body["members"]) == 1
    body = await fetch(client, "?until=2021-05-10T05:29:59%2B05:30")
    assert body["members"] == []
    # No offset means UTC.
    body = await fetch(client, "?since=2021-05-10T01:00:01")
    assert body["members"] == []


async def test_only_since_or_only_until(client):
    old = await make_member("OLD")
    await make_period(old, DAY - timedelta(days=30), DAY - timedelta(days=29))
    new = await make_member("NEW")
    await make_period(new, DAY + timedelta(days=30), DAY + timedelta(days=31))
    assert [m["real_name"] for m in (await fetch(client, "?since=2021-05-10"))["members"]] == [
        "NEW"
    ]
    assert [m["real_name"] for m in (await fetch(client, "?until=2021-05-10"))["members"]] == [
        "OLD"
    ]


async def test_filters_combine_with_paging(client):
    for index in range(7):
        member = await make_member(f"ROW{index}", "Europe/Paris" if index % 2 else "UTC")
        await make_period(member, DAY + timedelta(days=index))
    pages = await follow_pages(
        client, "limit=2&tz=Europe/Paris&name=row&since=2021-05-12T00:00:00Z&style=fullthrottle"
    )
    listed = [m["real_name"] for page in pages for m in page["members"]]
    # ROW1's period (May 11 to June 10) overlaps the window too.
    assert listed == ["ROW1", "ROW3", "ROW5"]
    assert all("activity_periods" in m for page in pages for m in page["members"])


BAD_REQUESTS = [
    ("tz=Mars/Olympus", "tz"),
    ("tz=", "tz"),
    ("limit=0", "limit"),
    ("limit=x", "limit"),
    ("limit=1001", "limit"),
    ("limit=-5", "limit"),
    ("limit=2.5", "limit"),
    ("since=yesterday", "since"),
    ("until=2020-13-01", "until"),
    ("since=2021-05-10T00:00:00Z&until=2021-05-09T00:00:00Z", "since"),
    ("limit=5&cursor=not-a-cursor", "cursor"),
    ("limit=5&cursor=" + encode_cursor(Position("x", "not-a-uuid")), "cursor"),
    ("limit=5&cursor=WyJ4Il0", "cursor"),
    ("cursor=" + encode_cursor(Position("x", "00000000-0000-4000-8000-000000000000")), "limit"),
    ("style=original", "style"),
    ("name=" + "x" * 101, "name"),
    ("name=a%00b", "name"),
    ("since=0001-01-01T00:00:00%2B01:00", "since"),
    ("until=9999-12-31T23:59:59-01:00", "until"),
    (
        "limit=5&cursor="
        + encode_cursor(Position("x\x00", "00000000-0000-4000-8000-000000000000")),
        "cursor",
    ),
]


@pytest.mark.parametrize(("query", "names"), BAD_REQUESTS, ids=[q for q, _ in BAD_REQUESTS])
async def test_bad_parameters_get_400_saying_what_to_change(client, query, names):
    await make_member("KEEP")
    response = await client.get("/fetch/?" + query)
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["ok", "error"]
    assert body["ok"] is False
    assert names in body["error"]
    # Nothing about the data changed because of the bad request.
    assert [m["real_name"] for m in (await fetch(client))["members"]] == ["KEEP"]


async def test_unrelated_parameters_are_ignored(client):
    await make_member("KEEP")
    plain = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    busted = await client.get("/fetch/?_=12345", headers={"accept-encoding": "identity"})
    assert busted.content == plain.content
