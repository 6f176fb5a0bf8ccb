"""/api/members: recording sessions as they happen, on SQLite and PostgreSQL.

Every refusal says what to change and writes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from home.roster.tables import ActivityPeriod, AuditEntry, Member

NOW = datetime.now(UTC).replace(microsecond=0)


def at(hours_ago: float) -> str:
    """An RFC 3339 time `hours_ago` before now, in UTC."""
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


async def stored() -> tuple[int, int, int]:
    """Members, periods and audit entries stored: what a refused request must not change."""
    return await Member.count(), await ActivityPeriod.count(), await AuditEntry.count()


async def test_create_member_answers_201_with_the_new_member(system):
    response = await system.post("/members", {"real_name": "Ada Lovelace", "tz": "Asia/Kolkata"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "real_name", "tz"}
    assert uuid.UUID(body["id"])
    assert (body["real_name"], body["tz"]) == ("Ada Lovelace", "Asia/Kolkata")
    assert await Member.count() == 1


async def test_start_then_stop_records_one_finished_period(system, client):
    member = await system.add_member()
    started = await system.start(member, at="2026-11-30T09:15:00+05:30")
    assert started.status_code == 201
    session = started.json()
    assert session["start_time"] == "2026-11-30T03:45:00Z"
    assert session["end_time"] is None and session["member_id"] == member
    stopped = await system.stop(member, at="2026-11-30T12:00:00Z")
    assert stopped.status_code == 200
    assert stopped.json() == {**session, "end_time": "2026-11-30T12:00:00Z"}
    [listed] = (await client.get("/fetch/")).json()["members"]
    assert listed["activity"] == [
        {"start_time": "November 30 2026 03:45", "end_time": "November 30 2026 12:00"}
    ]


async def test_start_and_stop_default_to_now(system):
    member = await system.add_member()
    before = datetime.now(UTC) - timedelta(seconds=1)
    start = (await system.start(member)).json()["start_time"]
    stop = (await system.stop(member)).json()["end_time"]
    after = datetime.now(UTC) + timedelta(seconds=1)
    for text in (start, stop):
        assert text.endswith("Z")
        assert before <= datetime.fromisoformat(text) <= after


async def test_running_session_is_not_on_fetch_until_it_stops(system, client):
    member = await system.add_member()
    await system.start(member, at=at(2))
    first = await client.get("/fetch/")
    assert first.json()["members"][0]["activity"] == []
    await system.stop(member, at=at(1))
    after = await client.get("/fetch/", headers={"if-none-match": first.headers["etag"]})
    assert after.status_code == 200, "the data version must move when a session stops"
    assert len(after.json()["members"][0]["activity"]) == 1


async def test_member_is_shown_as_fetch_lists_it_with_active_since(system, client):
    member = await system.add_member("Grace Hopper", "America/New_York")
    await system.add_period(member, "2026-11-29T14:00:00Z", "2026-11-29T15:30:00Z")
    await system.start(member, at="2026-11-30T13:00:00Z")
    for style, key in (("seed", "activity"), ("fullthrottle", "activity_periods")):
        shown = await system.get(f"/members/{member}", style=style)
        assert shown.status_code == 200
        body = shown.json()
        assert body.pop("active_since") == "2026-11-30T13:00:00Z"
        assert body.pop("closed_until") is None  # nothing is closed
        [listed] = (await client.get("/fetch/", params={"style": style})).json()["members"]
        assert body == listed
        assert len(body[key]) == 1
    assert (await system.get(f"/members/{member}")).json()["activity"] == [
        {"start_time": "November 29 2026 14:00", "end_time": "November 29 2026 15:30"}
    ]
    await system.stop(member)
    assert (await system.get(f"/members/{member}")).json()["active_since"] is None


async def test_a_finished_period_may_start_when_the_last_one_ends(system):
    member = await system.add_member()
    first = await system.add_period(member, at(5), at(4))
    touching = await system.add_period(member, at(4), at(3))
    assert (first.status_code, touching.status_code) == (201, 201)
    assert touching.json()["start_time"] == first.json()["end_time"]
    assert (await system.start(member, at=at(3))).status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "status", "says"),
    [
        ("/members", b'{"real_name": "A", "tz":', 400, "the body is not valid JSON"),
        ("/members", b'{"real_name": "A" "tz": 1}', 400, "the body is not valid JSON"),
        ("/members", b'{"real_name": "A"}', 400, "missing required field `tz`"),
        ("/members", b'{"real_name": "A", "tz": "UTC", "nick": 1}', 400, "unknown field `nick`"),
        ("/members", b'{"real_name": "A", "tz": "Mars/Olympus"}', 400, "not a known IANA"),
        ("/members", b'{"real_name": " ", "tz": "UTC"}', 400, "must not be empty"),
        ("/members", b'{"real_name": 7, "tz": "UTC"}', 400, "Expected `str`"),
    ],
)
async def test_bad_member_bodies_are_refused_with_what_to_change(system, path, body, status, says):
    before = await stored()
    response = await system.post(path, content=body)
    assert response.status_code == status
    assert response.json()["ok"] is False and says in response.json()["error"]
    assert await stored() == before


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("2026-11-29T09:00:00", "2026-11-29T10:00:00Z", "it has no UTC offset"),
        ("yesterday", "2026-11-29T10:00:00Z", "must be an RFC 3339 time"),
        ("2026-11-29T09:00:00+05:30", "2026-02-30T10:00:00Z", "is not a real time"),
        ("2026-11-29T10:00:00Z", "2026-11-29T09:00:00Z", "is before start_time"),
        ("2026-11-29T10:00:00Z", "2999-12-31T09:00:00Z", "is in the future"),
        ("1066-10-14T09:00:00Z", "1066-10-14T10:00:00Z", "between the years"),
    ],
)
async def test_bad_periods_are_refused_with_what_to_change(system, start, end, says):
    member = await system.add_member()
    before = await stored()
    response = await system.add_period(member, start, end)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    assert await stored() == before


async def test_unknown_member_is_404_for_every_endpoint(system):
    missing = str(uuid.uuid4())
    before = await stored()
    for response in (
        await system.get(f"/members/{missing}"),
        await system.get("/members/not-a-uuid"),
        await system.start(missing),
        await system.stop(missing),
        await system.add_period(missing, at(2), at(1)),
    ):
        assert response.status_code == 404, response.text
        assert "no member with id" in response.json()["error"]
    assert await stored() == before


async def test_starting_twice_is_409_naming_the_running_session(system):
    member = await system.add_member()
    first = (await system.start(member, at=at(3))).json()
    before = await stored()
    again = await system.start(member, at=at(1))
    assert again.status_code == 409
    error = again.json()["error"]
    assert "already running" in error and f"session {first['id']}" in error
    assert first["start_time"] in error
    assert await stored() == before


async def test_stopping_without_a_running_session_is_409(system):
    member = await system.add_member()
    before = await stored()
    response = await system.stop(member)
    assert response.status_code == 409
    assert "no session is running" in response.json()["error"]
    assert await stored() == before


async def test_stopping_before_the_start_is_refused(system):
    member = await system.add_member()
    await system.start(member, at=at(1))
    before = await stored()
    response = await system.stop(member, at=at(2))
    assert response.status_code == 409
    assert "before the running session started" in response.json()["error"]
    assert await stored() == before


async def test_overlapping_period_is_409_naming_the_period_it_overlaps(system):
    member = await system.add_member()
    first = (await system.add_period(member, at(5), at(3))).json()
    before = await stored()
    for start, end in ((at(4), at(2)), (at(6), at(4)), (at(4.5), at(3.5)), (at(6), at(1))):
        response = await system.add_period(member, start, end)
        assert response.status_code == 409, (start, end)
        assert f"period {first['id']}" in response.json()["error"]
    assert await stored() == before


async def test_a_session_cannot_start_inside_a_finished_period(system):
    member = await system.add_member()
    await system.add_period(member, at(5), at(3))
    before = await stored()
    response = await system.start(member, at=at(4))
    assert response.status_code == 409
    assert "overlap" in response.json()["error"]
    assert await stored() == before


async def test_a_finished_period_cannot_be_added_after_the_running_session_started(system):
    member = await system.add_member()
    await system.start(member, at=at(5))
    before = await stored()
    response = await system.add_period(member, at(3), at(2))
    assert response.status_code == 409
    assert "running session" in response.json()["error"]
    assert await stored() == before
    assert (await system.add_period(member, at(7), at(6))).status_code == 201


async def test_oversized_body_is_413_and_writes_nothing(system):
    before = await stored()
    body = b'{"real_name": "' + b"x" * 20_000 + b'", "tz": "UTC"}'
    response = await system.post("/members", content=body)
    assert response.status_code == 413
    assert "16,384 bytes" in response.json()["error"]
    assert await stored() == before


async def test_every_endpoint_is_in_the_openapi_document_with_its_scope(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    operations = {
        ("post", "/api/members"): "members:write",
        ("get", "/api/members/{member_id}"): "read",
        ("post", "/api/members/{member_id}/sessions/start"): "sessions:write",
        ("post", "/api/members/{member_id}/sessions/stop"): "sessions:write",
        ("post", "/api/members/{member_id}/periods"): "sessions:write",
        ("get", "/api/webhooks"): "admin",
        ("post", "/api/webhooks"): "admin",
        ("delete", "/api/webhooks/{endpoint_id}"): "admin",
    }
    for (method, path), scope in operations.items():
        operation = paths[path][method]
        assert operation["security"] == [{"ApiKey": [scope]}], (method, path)
        if path.startswith("/api/members"):
            assert f"Needs the scope `{scope}`" in operation["description"]
        assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


async def test_a_member_and_their_running_session_are_read_in_one_statement(
    system, adapter, monkeypatch
):
    """So a stop landing between two reads cannot show a member with neither the running
    session nor the period it became."""
    member = await system.add_member("Ada Lovelace", "Europe/London")
    await system.add_period(member, "2026-11-29T14:00:00Z", "2026-11-29T15:30:00Z")
    await system.start(member, at="2026-11-30T13:00:00Z")
    # Statements sent through Piccolo's engine (the ORM) as well as the adapter's own.
    engine_class = type(ActivityPeriod._meta.db)
    through_orm: list[str] = []
    real_run = engine_class.run_querystring

    async def recorded(self, querystring, *args, **kwargs):
        through_orm.append(str(querystring))
        return await real_run(self, querystring, *args, **kwargs)

    monkeypatch.setattr(engine_class, "run_querystring", recorded)
    adapter.statement_log = log = []
    try:
        shown = await system.get(f"/members/{member}")
    finally:
        adapter.statement_log = None
    assert shown.json()["active_since"] == "2026-11-30T13:00:00Z"
    reads = [statement for statement in log + through_orm if "activity_period" in statement]
    assert len(reads) == 1, reads
