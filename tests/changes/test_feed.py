"""GET /api/changes: every write, whoever makes it, in order from a cursor; deletions; the join
with /fetch/; retention."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from home.changes.service import ChangeService
from home.changes.watch import FeedWatcher
from home.roster.demo import populate_roster
from home.roster.tables import ActivityPeriod, Member
from tests.conftest import TEST_SETTINGS, http_client
from tests.factories import make_member, make_period, write_outside_app
from tests.support.admin import logged_in

START = "2026-11-30T10:00:00Z"
END = "2026-11-30T17:30:00Z"


async def follow(client, after: str | None = None, limit: int = 1000) -> tuple[list[dict], str]:
    """Every change after `after` (following `next` until nothing is new), and the last cursor."""
    seen: list[dict] = []
    cursor = after
    while True:
        params = {"limit": str(limit), **({"after": cursor} if cursor is not None else {})}
        response = await client.get("/api/changes", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["ok"] is True
        seen.extend(body["changes"])
        if not body["changes"]:
            assert cursor is None or body["next"] == cursor  # unchanged when nothing is new
            return seen, body["next"]
        cursor = body["next"]


def kinds(changes: list[dict]) -> list[tuple[str, str]]:
    return [(change["type"], change["actor"]) for change in changes]


async def test_every_api_write_is_a_change_with_its_actor_and_the_row(client, system):
    member = await system.add_member("Ada Lovelace", "Europe/London")
    started = (await system.start(member, at="2026-11-30T08:00:00+01:00")).json()
    stopped = (await system.stop(member, at="2026-11-30T09:30:00Z")).json()
    added = (await system.add_period(member, START, END)).json()
    changes, _ = await follow(client)
    actor = f"api key {system.name}"
    assert kinds(changes) == [
        ("member.created", actor),
        ("period.created", actor),
        ("period.updated", actor),
        ("period.created", actor),
    ]
    assert changes[0]["data"] == {"id": member, "real_name": "Ada Lovelace", "tz": "Europe/London"}
    # A session start is a period without an end; its stop is the same period, updated.
    assert changes[1]["data"] == {
        "id": started["id"],
        "member_id": member,
        "start_time": "2026-11-30T07:00:00Z",
        "end_time": None,
    }
    assert changes[2]["data"] == {**changes[1]["data"], "end_time": stopped["end_time"]}
    assert changes[3]["data"]["id"] == added["id"]
    assert (changes[3]["data"]["start_time"], changes[3]["data"]["end_time"]) == (START, END)
    # Ids are cursors, each after the one before; `at` is RFC 3339 UTC.
    assert len({change["id"] for change in changes}) == 4
    for change in changes:
        assert change["at"].endswith("Z") and datetime.fromisoformat(change["at"])


async def test_deleting_a_member_lists_its_periods_as_deleted_first(client, db):
    member = await make_member("LEAVING")
    await make_period(member)
    await make_period(member, datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 1, 2, tzinfo=UTC))
    _, cursor = await follow(client)
    await write_outside_app(db, f"DELETE FROM member WHERE id = '{member.id}'")
    changes, _ = await follow(client, cursor)
    assert kinds(changes) == [("period.deleted", "sql")] * 2 + [("member.deleted", "sql")]
    assert {change["data"]["member_id"] for change in changes[:2]} == {str(member.id)}
    assert changes[2]["data"] == {"id": str(member.id), "real_name": "LEAVING", "tz": "UTC"}
    assert changes[0]["data"]["start_time"] == "2020-06-20T14:29:00Z"


async def test_admin_cli_and_plain_sql_writes_are_changes_too(client, db, adapter, cli_env):
    admin = await logged_in(client, "keeper")
    answer = await admin.add_member("FROM ADMIN")
    assert answer.status_code == 201, answer.text
    await write_outside_app(db, "UPDATE member SET tz = 'Asia/Kolkata'")
    await populate_roster(adapter, 3, periods=2, actor="cli")
    changes, _ = await follow(client)
    assert kinds(changes) == [
        ("member.created", "admin keeper"),
        ("member.updated", "sql"),
        ("roster.bulk", "cli"),
    ]
    assert changes[1]["data"]["tz"] == "Asia/Kolkata"
    # A bulk run is one change with its counts: followers take a new snapshot.
    assert changes[2]["data"]["members"] == 3 and changes[2]["data"]["periods"] == 6
    assert await Member.count() == 4 and await ActivityPeriod.count() == 6


async def test_pages_follow_on_without_gaps_or_repeats(client, system):
    members = [await system.add_member(f"PAGE{number}") for number in range(7)]
    seen, cursor = [], None
    while True:
        params = {"limit": "3", **({"after": cursor} if cursor else {})}
        body = (await client.get("/api/changes", params=params)).json()
        assert len(body["changes"]) <= 3
        if not body["changes"]:
            break
        seen.extend(body["changes"])
        cursor = body["next"]
        assert cursor == body["changes"][-1]["id"]
    assert [change["data"]["id"] for change in seen] == members


async def test_a_fetch_answer_names_where_to_follow_from(client, system):
    before = await system.add_member("BEFORE")
    fetched = await client.get("/fetch/")
    cursor = fetched.headers["changes-cursor"]
    assert [m["id"] for m in fetched.json()["members"]] == [before]
    after = await system.add_member("AFTER")
    changes, _ = await follow(client, cursor)
    # Nothing after the snapshot is missed (a change the snapshot holds may come again).
    assert after in [change["data"]["id"] for change in changes]
    assert [c["data"]["id"] for c in changes if c["data"]["id"] != before] == [after]
    # Cached answers, 304s and HEAD name a position too.
    again = await client.get("/fetch/")
    assert again.headers["changes-cursor"]
    revalidated = await client.get("/fetch/", headers={"if-none-match": again.headers["etag"]})
    assert revalidated.status_code == 304 and revalidated.headers["changes-cursor"]
    assert (await client.head("/fetch/")).headers["changes-cursor"]


async def test_the_cursor_is_exact_on_sqlite(sqlite_db, app):
    # Writers take turns on SQLite: the snapshot's position is its last change, exactly.
    async with http_client(app) as client:
        await make_member("ONE")
        cursor = (await client.get("/fetch/")).headers["changes-cursor"]
        assert await follow(client, cursor) == ([], cursor)
        await make_member("TWO")
        changes, _ = await follow(client, cursor)
        assert [change["data"]["real_name"] for change in changes] == ["TWO"]


async def test_bad_parameters_say_what_to_send(client):
    for params, says in (
        ({"after": "nonsense"}, "is not a cursor of this feed"),
        ({"after": "8000000000000000.1"}, "is not a cursor of this feed"),
        ({"limit": "0"}, "limit must be from 1 to 1,000"),
        ({"limit": "1001"}, "limit must be from 1 to 1,000"),
        ({"limit": "x"}, "limit must be a whole number"),
    ):
        response = await client.get("/api/changes", params=params)
        assert response.status_code == 400, params
        assert response.json() == {"ok": False, "error": response.json()["error"]}
        assert says in response.json()["error"], response.json()


async def test_a_cursor_older_than_the_retention_gets_410(client, db, app):
    await make_member("OLD")
    _, old_cursor = await follow(client)
    await make_member("NEWER")
    later = datetime.now(UTC) + timedelta(days=31)
    service = ChangeService(
        app.state.storage,
        dataclasses.replace(TEST_SETTINGS, changes_retention_days=30),
        FeedWatcher(),
        clock=later.timestamp,
    )
    assert await service.prune() == 2
    gone = await client.get("/api/changes", params={"after": old_cursor})
    assert gone.status_code == 410
    assert "take a new snapshot with GET /fetch/" in gone.json()["error"]
    # Without a cursor the feed starts from what it keeps; a fresh snapshot's cursor works.
    assert (await client.get("/api/changes")).json()["changes"] == []
    cursor = (await client.get("/fetch/")).headers["changes-cursor"]
    assert (await client.get("/api/changes", params={"after": cursor})).status_code == 200


async def test_the_feed_is_for_readers_as_the_reports_are(db, client_for, adapter):
    token = "feed-token-0123456789"
    guarded = client_for(fetch_token=token)
    assert (await guarded.get("/api/changes")).status_code == 401
    allowed = await guarded.get("/api/changes", headers={"authorization": f"Bearer {token}"})
    assert allowed.status_code == 200


async def test_followers_see_exactly_the_audit_trail_while_writers_race(client, app, adapter, db):
    """Writers commit concurrently (sequence values commit out of order on PostgreSQL); every
    follower polling with `after` sees each change once, in an order that matches the trail."""
    from tests.support.client_system import ClientSystem

    systems = [await ClientSystem.register(client, adapter) for _ in range(5)]
    members = [await system.add_member(f"RACE{n}") for n, system in enumerate(systems)]
    _, start = await follow(client)
    writers_done = asyncio.Event()
    followed: list[list[dict]] = [[] for _ in range(3)]

    async def follower(seen: list[dict]) -> None:
        cursor = start
        while True:
            done = writers_done.is_set()
            body = (await client.get("/api/changes", params={"after": cursor, "limit": "7"})).json()
            seen.extend(body["changes"])
            cursor = body["next"]
            if done and not body["changes"]:
                return
            await asyncio.sleep(0)

    async def writer(index: int) -> None:
        system, member = systems[index % 5], members[index % 5]
        base = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=index)
        answer = await system.add_period(
            member, base.isoformat(), (base + timedelta(hours=1)).isoformat()
        )
        assert answer.status_code == 201, answer.text

    followers = [asyncio.create_task(follower(seen)) for seen in followed]
    await asyncio.gather(*(writer(index) for index in range(50)))
    writers_done.set()
    await asyncio.gather(*followers)
    trail = await db.engine.run_ddl(
        "SELECT row_id FROM audit_entry WHERE table_name = 'activity_period' ORDER BY id"
    )
    expected = sorted(int(row["row_id"]) for row in trail)
    assert len(expected) == 50
    for seen in followed:
        ids = [change["data"]["id"] for change in seen]
        assert len(ids) == len(set(ids)), "a change was seen twice"
        assert sorted(ids) == expected, "a change was missed"


async def test_the_feed_is_read_in_order_from_its_index_on_postgresql(pg):
    """A follower's read walks the (seq, id) index, however long the feed (a sort of the whole
    table per read made webhooks fall behind)."""
    from home.storage.postgres import CHANGES_AFTER

    async with pg.engine.pool.acquire() as connection, connection.transaction():
        # As on a long feed: every other plan costs more than reading the index in order.
        for plan in ("seqscan", "bitmapscan", "sort"):
            await connection.execute(f"SET LOCAL enable_{plan} = off")
        rows = await connection.fetch(f"EXPLAIN {CHANGES_AFTER}", 0, 0, 100)
    plan = "\n".join(row[0] for row in rows)
    assert "roster_change_order" in plan and "Sort" not in plan, plan


async def test_the_feed_is_in_commit_order_on_postgresql(pg, client_for):
    """A transaction that began writing first but commits last comes last: a follower never
    sees a change before one that committed earlier, nor skips one that commits later."""
    http = client_for()
    early = await pg.engine.pool.acquire()
    try:
        await early.execute("BEGIN")
        # Its transaction id is taken now, at its first write.
        await early.execute(
            "INSERT INTO member (id, real_name, tz) VALUES ($1, 'EARLY', 'UTC')",
            "00000000-0000-4000-8000-000000000001",
        )
        await make_member("LATE")  # begins later, commits first
        changes, cursor = await follow(http)
        assert [c["data"]["real_name"] for c in changes] == ["LATE"]
        await early.execute("COMMIT")
    finally:
        await pg.engine.pool.release(early)
    after, _ = await follow(http, cursor)
    assert [c["data"]["real_name"] for c in after] == ["EARLY"]
    everything, _ = await follow(http)
    assert [c["data"]["real_name"] for c in everything] == ["LATE", "EARLY"]
