"""/fetch/ paging, filters and parameter errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from home.api.query import Position, decode_cursor, encode_cursor
from tests.factories import make_member, make_period, write_outside_app

UTC = UTC
DAY = datetime(2021, 5, 10, tzinfo=UTC)


async def fetch(client, query: str = "") -> dict:
    response = await client.get("/fetch/" + query)
    assert response.status_code == 200, response.text
    return response.json()


async def follow_pages(client, query: str, between=None, cursor=None) -> list[dict]:
    """Every page from the first (or from `cursor`) to the one whose `next` is null."""
    pages = []
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


async def test_paging_follows_next_past_the_longest_names(client):
    # Each name is 100 characters (the limit) whose JSON is as long as it gets: a control
    # character is escaped to 6 bytes (\u0001), a supplementary-plane one is 4 bytes of UTF-8.
    names = ["\x01" * 100, "\x1f" * 100, "\\" * 100, "\U00020000" * 90]
    names += ["\U00020000" * 91, "\U00020000" * 100, "A" * 100]
    for name in names:
        await make_member(name)
    pages = await follow_pages(client, "limit=1")
    assert [m["real_name"] for page in pages for m in page["members"]] == sorted(
        names, key=lambda name: name.encode()
    )
    worst = Position("\x01" * 100, "00000000-0000-4000-8000-000000000000")
    assert decode_cursor(encode_cursor(worst)) == worst


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
            start = DAY + timedelta(days=day)
            await make_period(member, start, start + timedelta(hours=8))
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
    rest = await follow_pages(client, "limit=2", cursor=first["next"])
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


async def test_name_filter_lowers_each_character_as_postgresql_does(client):
    # PostgreSQL's lower() maps one character at a time: no final sigma, and U+0130 (İ)
    # becomes "i" in the cluster's UTF-8 locale (C.UTF-8 or en_US.UTF-8); SQLite must agree.
    for name in ["ΟΔΟΣ", "οδος", "İZMIR", "izmir", "Ada"]:
        await make_member(name)
    expected = {
        "Σ": ["ΟΔΟΣ"],
        "σ": ["ΟΔΟΣ"],
        "ς": ["οδος"],
        "ΟΔΟΣ": ["ΟΔΟΣ"],
        "οδος": ["οδος"],
        "İ": ["izmir", "İZMIR"],
        "İzmir": ["izmir", "İZMIR"],
        "i": ["izmir", "İZMIR"],
        "ZMI": ["izmir", "İZMIR"],
        "aDA": ["Ada"],
    }
    for text, names in expected.items():
        body = await fetch(client, "?" + urlencode({"name": text}))
        assert [m["real_name"] for m in body["members"]] == names, text


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


def _time_literal(db, text: str) -> str:
    """`text` as an SQL time literal; one without an offset means UTC on both engines."""
    if db.kind == "sqlite":
        return f"'{text}'"
    if "+" in text[10:] or "-" in text[10:]:
        return f"'{text}'::timestamptz"
    return f"('{text}'::timestamp AT TIME ZONE 'UTC')"


async def test_window_reads_times_that_raw_sql_wrote_with_any_offset(client, db):
    ahead = await make_member("AHEAD")
    naive = await make_member("NAIVE")
    mixed = await make_member("MIXED")
    await make_period(
        mixed, datetime(2020, 6, 20, 12, tzinfo=UTC), datetime(2020, 6, 20, 13, tzinfo=UTC)
    )
    for member, start, end in [
        (ahead, "2020-06-20 10:00:00+02:00", "2020-06-20 11:00:00+02:00"),  # 08:00-09:00 UTC
        (naive, "2020-06-20 10:00:00", "2020-06-20 11:00:00"),  # 10:00-11:00 UTC
        (mixed, "2020-06-20 14:00:00+05:00", "2020-06-20 15:00:00+05:00"),  # 09:00-10:00 UTC
    ]:
        await write_outside_app(
            db,
            "INSERT INTO activity_period (member, start_time, end_time) VALUES "
            f"('{member.id}', {_time_literal(db, start)}, {_time_literal(db, end)})",
        )

    def hours(first: int, last: int) -> dict:
        return {
            "start_time": f"June 20 2020 {first:02d}:00",
            "end_time": f"June 20 2020 {last:02d}:00",
        }

    windows = {
        "since=2020-06-20T09:30:00Z": {
            "MIXED": [hours(9, 10), hours(12, 13)],
            "NAIVE": [hours(10, 11)],
        },
        "until=2020-06-20T08:30:00Z": {"AHEAD": [hours(8, 9)]},
        "since=2020-06-20T11:00:00Z": {"MIXED": [hours(12, 13)], "NAIVE": [hours(10, 11)]},
        "until=2020-06-20T10:00:00Z": {
            "AHEAD": [hours(8, 9)],
            "MIXED": [hours(9, 10)],
            "NAIVE": [hours(10, 11)],
        },
        "until=2020-06-20T09:59:59Z": {"AHEAD": [hours(8, 9)], "MIXED": [hours(9, 10)]},
        "since=2020-06-20T08:30:00Z&until=2020-06-20T09:30:00Z": {
            "AHEAD": [hours(8, 9)],
            "MIXED": [hours(9, 10)],
        },
    }
    for window, expected in windows.items():
        for paging in ("&limit=1000", "&limit=1"):
            pages = await follow_pages(client, window + paging)
            listed = {m["real_name"]: m["activity"] for page in pages for m in page["members"]}
            assert listed == expected, window + paging


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


async def test_times_beyond_the_first_and_last_instant_are_the_extremes(client):
    # Valid RFC 3339 times that fall outside what datetime holds once in UTC: no bound there.
    member = await make_member("ANY")
    await make_period(member, DAY, DAY + timedelta(hours=1))
    for query in ("?since=0001-01-01T00:00:00%2B01:00", "?until=9999-12-31T23:59:59-01:00"):
        assert [m["real_name"] for m in (await fetch(client, query))["members"]] == ["ANY"]
    assert (await fetch(client, "?since=9999-12-31T23:59:59-01:00"))["members"] == []


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
    (
        "limit=5&cursor="
        + encode_cursor(Position("x\x00", "00000000-0000-4000-8000-000000000000")),
        "cursor",
    ),
]


async def test_unencoded_plus_in_a_time_is_explained(client):
    # `+` typed into a URL arrives as a space; the message must say so, quoting what arrived.
    for name in ("since", "until"):
        response = await client.get(f"/fetch/?{name}=2020-06-20T20:00+05:30")
        assert response.status_code == 400
        error = response.json()["error"]
        assert "'2020-06-20T20:00 05:30'" in error
        assert "write `+` as `%2B` in a URL" in error
    response = await client.get("/fetch/?since=yesterday")
    assert "%2B" not in response.json()["error"]


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
