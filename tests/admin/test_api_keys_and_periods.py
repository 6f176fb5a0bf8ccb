"""The admin makes and revokes API keys, and refuses overlapping periods with a clear message."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from home.roster.tables import ActivityPeriod, ApiKey
from tests.conftest import http_client
from tests.factories import make_member, make_period
from tests.support.admin import logged_in
from tests.support.client_system import ClientSystem
from tests.support.locks import lock_waits

pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")

START = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
KEY = re.compile(r"rk_[0-9a-f]{10}_[A-Za-z0-9_-]{43}")


@pytest.fixture
async def admin(client):
    return await logged_in(client, "keeper")


async def test_an_operator_makes_a_key_that_works_then_revokes_it(admin, client):
    made = await admin.send(
        "POST",
        "/api/forms/create-api-key/",
        {"name": "door-scanner", "scopes": "read, members:write", "expires": "2099-01-01T00:00Z"},
    )
    assert made.status_code == 200, made.text
    assert "scopes read, members:write; expires 2099-01-01T00:00:00Z" in made.text
    [key] = KEY.findall(made.text)
    system = ClientSystem(client, key, "door-scanner")
    assert (await system.post("/members", {"real_name": "A", "tz": "UTC"})).status_code == 201
    revoked = await admin.send("POST", "/api/forms/revoke-api-key/", {"name": "door-scanner"})
    assert revoked.status_code == 200 and "revoked" in revoked.text
    assert (await system.post("/members", {"real_name": "B", "tz": "UTC"})).status_code == 401
    [row] = await ApiKey.select(ApiKey.active, ApiKey.revoked_at)
    assert row["active"] is False and row["revoked_at"] is not None


async def test_the_key_list_shows_keys_their_scopes_but_never_their_hash(admin):
    member = await make_member("ONLY")
    await admin.send(
        "POST",
        "/api/forms/create-api-key/",
        {"name": "listed", "scopes": "sessions:write", "members": str(member.id)},
    )
    rows = (await admin.get("/tables/api_key/")).json()["rows"]
    assert [(row["name"], row["scopes"]) for row in rows] == [("listed", "sessions:write")]
    assert rows[0]["member_ids"] == f'["{member.id}"]' and rows[0]["expires_at"] is None
    assert all(not row.get("key_hash") for row in rows)
    refused = await admin.send(
        "POST", "/api/forms/create-api-key/", {"name": "bad", "scopes": "read,everything"}
    )
    assert refused.status_code == 422
    assert "unknown scopes everything" in refused.json()["custom_form_error"]


async def test_keys_are_not_added_or_edited_in_the_table(admin):
    await admin.send("POST", "/api/forms/create-api-key/", {"name": "fixed"})
    [row] = await ApiKey.select(ApiKey.id)
    added = await admin.send("POST", "/api/tables/api_key/", {"name": "raw", "prefix": "x"})
    edited = await admin.send("PATCH", f"/api/tables/api_key/{row['id']}/", {"active": False})
    assert (added.status_code, edited.status_code) == (405, 405)
    assert "Create API key" in added.text
    assert await ApiKey.count() == 1


@pytest.mark.parametrize(
    ("form", "name", "says"),
    [
        ("create-api-key", " ", "needs a name"),
        ("create-api-key", "taken", "exists already"),
        ("revoke-api-key", "nobody", "no active API key is named"),
    ],
)
async def test_bad_key_form_input_says_what_to_change(admin, form, name, says):
    await admin.send("POST", "/api/forms/create-api-key/", {"name": "taken"})
    response = await admin.send("POST", f"/api/forms/{form}/", {"name": name})
    assert response.status_code == 422
    assert says in response.json()["custom_form_error"]
    assert await ApiKey.count() == 1


def _period(member, start, end) -> dict:
    return {
        "member": str(member.id),
        "start_time": start.isoformat(),
        "end_time": None if end is None else end.isoformat(),
    }


async def test_an_overlapping_period_is_refused_with_a_message_naming_it(admin):
    member = await make_member("OVERLAP")
    existing = await make_period(member, START, START + timedelta(hours=2))
    response = await admin.send(
        "POST",
        "/api/tables/activity_period/",
        _period(member, START + timedelta(hours=1), START + timedelta(hours=3)),
    )
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "start_time"]
    assert f"overlaps period {existing.id}" in error["msg"]
    assert await ActivityPeriod.count() == 1


async def test_an_edit_that_would_overlap_is_refused(admin):
    member = await make_member("EDITED")
    await make_period(member, START, START + timedelta(hours=1))
    later = await make_period(member, START + timedelta(hours=2), START + timedelta(hours=3))
    response = await admin.send(
        "PATCH",
        f"/api/tables/activity_period/{later.id}/",
        {"start_time": (START + timedelta(minutes=30)).isoformat()},
    )
    assert response.status_code == 422
    assert "overlaps period" in response.json()["detail"][0]["msg"]
    moved = await admin.send(
        "PATCH",
        f"/api/tables/activity_period/{later.id}/",
        {"start_time": (START + timedelta(hours=1)).isoformat()},
    )
    assert moved.status_code == 200, moved.text


async def test_a_running_session_may_be_added_once(admin, client):
    member = await make_member("RUNNING")
    first = await admin.send("POST", "/api/tables/activity_period/", _period(member, START, None))
    assert first.status_code == 201, first.text
    second = await admin.send(
        "POST", "/api/tables/activity_period/", _period(member, START + timedelta(days=1), None)
    )
    assert second.status_code == 422
    assert "already has a running session" in second.json()["detail"][0]["msg"]
    # Running sessions are not on /fetch/.
    assert (await client.get("/fetch/")).json()["members"][0]["activity"] == []


async def test_admin_period_writes_queue_behind_the_members_writers_on_postgres(pg, app):
    """An operator's new or edited period waits, like the API's writes, for another writer of
    the same member to finish, instead of racing it into the exclusion constraint."""
    adapter = app.state.storage.adapter()
    member = await make_member()
    period = await make_period(member, START, START + timedelta(hours=1))
    held, release = asyncio.Event(), asyncio.Event()

    async def other_writer() -> None:
        async with adapter.audited("test"):
            await adapter.lock_member_periods(str(member.id))
            held.set()
            await release.wait()

    async with http_client(app) as http:
        admin = await logged_in(http, "keeper")
        holder = asyncio.create_task(other_writer())
        try:
            await held.wait()
            later = {
                "member": str(member.id),
                "start_time": (START + timedelta(hours=2)).isoformat(),
                "end_time": (START + timedelta(hours=3)).isoformat(),
            }
            added = asyncio.create_task(admin.send("POST", "/api/tables/activity_period/", later))
            assert await lock_waits(pg.engine.run_ddl, 1) == ["advisory"]
            shorter = {"end_time": (START + timedelta(minutes=30)).isoformat()}
            path = f"/api/tables/activity_period/{period.id}/"
            edited = asyncio.create_task(admin.send("PATCH", path, shorter))
            assert await lock_waits(pg.engine.run_ddl, 2) == ["advisory", "advisory"]
            assert not added.done() and not edited.done()
        finally:
            release.set()
            await holder
        assert (await added).status_code == 201, (await added).text
        assert (await edited).status_code == 200, (await edited).text
    assert await ActivityPeriod.count().where(ActivityPeriod.member == member.id) == 2
