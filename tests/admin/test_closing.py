"""Closed periods in the admin: a superuser closes the books with a form; afterwards adding,
changing or deleting a closed period, or deleting a member who has one, is refused with a
message naming the closing, and nothing changes; reopening is a superuser's form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from home.roster import closing
from home.roster.tables import ActivityPeriod, AuditEntry, Member
from tests.factories import make_member, make_period
from tests.support.admin import logged_in

pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")

CLOSED = datetime(2026, 11, 1, tzinfo=UTC)
BEFORE = CLOSED - timedelta(days=3)
AFTER = CLOSED + timedelta(days=3)


def period_body(member, start: datetime, end: datetime) -> dict:
    return {"member": str(member.id), "start_time": start.isoformat(), "end_time": end.isoformat()}


@pytest.fixture
async def boss(client):
    return await logged_in(client, "boss")


async def test_a_superuser_closes_the_books_in_the_admin(boss):
    closed = await boss.send("POST", "/api/forms/close-periods/", {"until": "2026-11-01T00:00Z"})
    assert closed.status_code == 200, closed.text
    assert "periods starting before 2026-11-01T00:00:00Z are closed (closed by admin boss" in (
        closed.text
    )
    assert (await closing.current()).until == CLOSED
    listed = (await boss.get("/tables/closing/")).json()["rows"]
    assert [row["changed_by"] for row in listed] == ["admin boss"]
    [entry] = await AuditEntry.select().where(AuditEntry.table_name == "closing")
    assert entry["actor"] == "admin boss"


@pytest.mark.parametrize(
    ("until", "error"),
    [
        ("next week", "'next week' is not a time such as 2026-12-01T00:00:00Z"),
        ("2999-01-01T00:00:00Z", "is in the future: close only what has happened"),
        ("2026-01-01T00:00:00", "until needs a UTC offset"),
    ],
)
async def test_the_close_form_refuses_a_bad_time_clearly(boss, until, error):
    refused = await boss.send("POST", "/api/forms/close-periods/", {"until": until})
    assert refused.status_code == 422
    assert error in refused.json()["custom_form_error"]
    assert (await closing.current()).until is None


async def test_closed_periods_and_their_members_cannot_be_touched(boss, adapter):
    member = await make_member("PAID")
    old = await make_period(member, BEFORE, BEFORE + timedelta(hours=8))
    await closing.close(adapter, CLOSED, "admin boss", datetime.now(UTC))
    before = await ActivityPeriod.select().order_by(ActivityPeriod.id)
    new = period_body(member, BEFORE + timedelta(days=1), BEFORE + timedelta(days=1, hours=1))
    longer = {"end_time": (BEFORE + timedelta(hours=9)).isoformat()}
    attempts = [
        ("POST", "/api/tables/activity_period/", new),
        ("PATCH", f"/api/tables/activity_period/{old.id}/", longer),
        ("DELETE", f"/api/tables/activity_period/{old.id}/", None),
        ("DELETE", f"/api/tables/member/{member.id}/", None),
    ]
    for method, path, body in attempts:
        refused = await boss.send(method, path, body)
        assert refused.status_code == 422, (method, path, refused.text)
        [error] = refused.json()["detail"]
        assert error["msg"].startswith(
            "periods starting before 2026-11-01T00:00:00Z are closed (closed by admin boss on "
        ), error
        assert "cannot be added, changed or deleted, nor a member who has one" in error["msg"]
    assert await ActivityPeriod.select().order_by(ActivityPeriod.id) == before
    assert await Member.count() == 1
    # After the closing, the admin writes as before.
    added = await boss.send(
        "POST",
        "/api/tables/activity_period/",
        period_body(member, AFTER, AFTER + timedelta(hours=1)),
    )
    assert added.status_code == 201, added.text


async def test_reopening_is_a_superusers_form_and_audited(boss, adapter, client):
    member = await make_member("CORRECTED")
    old = await make_period(member, BEFORE, BEFORE + timedelta(hours=8))
    await closing.close(adapter, CLOSED, "api key payroll", datetime.now(UTC))
    # Read-only staff cannot reopen, nor close.
    await boss.logout()
    viewer = await logged_in(client, "viewer", read_only=True)
    for form in ("reopen-closed-periods", "close-periods"):
        refused = await viewer.send("POST", f"/api/forms/{form}/", {"until": ""})
        assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    await viewer.logout()
    boss = await logged_in(client, "boss2")
    wrong = await boss.send("POST", "/api/forms/reopen-closed-periods/", {"until": "2026-12-01Z"})
    assert wrong.status_code == 422
    reopened = await boss.send(
        "POST", "/api/forms/reopen-closed-periods/", {"until": "2026-10-01T00:00:00Z"}
    )
    assert reopened.status_code == 200, reopened.text
    assert "Reopened: periods starting before 2026-10-01T00:00:00Z are closed" in reopened.text
    deleted = await boss.send("DELETE", f"/api/tables/activity_period/{old.id}/")
    assert deleted.status_code in (200, 204), deleted.text
    everything = await boss.send("POST", "/api/forms/reopen-closed-periods/", {"until": ""})
    assert "Reopened: nothing is closed" in everything.text
    actors = await AuditEntry.select(AuditEntry.actor).where(AuditEntry.table_name == "closing")
    assert [row["actor"] for row in actors] == ["api key payroll", "admin boss2", "admin boss2"]
