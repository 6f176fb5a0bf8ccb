"""Closed periods through the API: `POST /api/closing` closes the books (scope admin), and
afterwards every write of a period starting before the closing is answered 409 naming it, with
nothing written; the member and the reports say up to when the data is closed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from home.roster import closing
from home.roster.tables import ActivityPeriod, AuditEntry
from tests.factories import make_member
from tests.support.client_system import ClientSystem
from tests.support.locks import lock_waits

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
CLOSED = "2026-12-01T00:00:00Z"
CLOSED_TEXT = "periods starting before 2026-12-01T00:00:00Z are closed (closed by api key payroll"


@pytest.fixture
async def api(db, client_for, adapter):
    """A client system holding every scope, on an app whose clock reads NOW."""
    http = client_for(clock=NOW.timestamp)
    return await ClientSystem.register(http, adapter, name="payroll")


async def stored_periods() -> list[dict]:
    return await ActivityPeriod.select().order_by(ActivityPeriod.id)


async def test_closing_is_read_and_set(api):
    assert (await api.get("/closing")).json() == {
        "ok": True,
        "closed_until": None,
        "changed_at": None,
        "changed_by": None,
    }
    closed = await api.post("/closing", {"until": "2026-12-01T05:30:00+05:30"})
    assert closed.status_code == 200, closed.text
    expected = {
        "ok": True,
        "closed_until": CLOSED,
        "changed_at": "2026-12-04T12:00:00Z",
        "changed_by": "api key payroll",
    }
    assert closed.json() == expected
    assert (await api.get("/closing")).json() == expected
    [entry] = await AuditEntry.select().where(AuditEntry.table_name == "closing")
    assert entry["actor"] == "api key payroll"


async def test_writes_of_closed_periods_get_409_naming_the_closing(api):
    member = str((await make_member("AFTER PAYROLL")).id)
    assert (await api.post("/closing", {"until": CLOSED})).status_code == 200
    before = await stored_periods()
    refusals = [
        await api.start(member, at="2026-11-30T09:00:00Z"),
        await api.add_period(member, "2026-11-29T09:00:00Z", "2026-11-29T17:00:00Z"),
        await api.add_period(member, "2026-11-30T23:00:00Z", "2026-12-01T01:00:00Z"),
    ]
    for refused, start in zip(
        refusals,
        ["2026-11-30T09:00:00Z", "2026-11-29T09:00:00Z", "2026-11-30T23:00:00Z"],
        strict=True,
    ):
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == (
            f"{CLOSED_TEXT} on 2026-12-04T12:00:00Z): a period starting {start} cannot be "
            "added, changed or deleted"
        )
    assert await stored_periods() == before
    # From the closing on, the books are open.
    assert (await api.start(member, at=CLOSED)).status_code == 201
    assert (await api.stop(member, at="2026-12-01T08:00:00Z")).status_code == 200


async def test_stopping_a_session_that_started_before_the_closing_gets_409(api, db):
    member = await make_member("NIGHT SHIFT")
    await ActivityPeriod.insert(
        ActivityPeriod(member=member.id, start_time=datetime(2026, 11, 30, 22, tzinfo=UTC))
    )
    # Closing refuses while it runs...
    refused = await api.post("/closing", {"until": CLOSED})
    assert refused.status_code == 409
    assert refused.json()["error"] == (
        "NIGHT SHIFT has a session running since 2026-11-30T22:00:00Z: stop it first, or close "
        "up to its start"
    )
    assert (await closing.current()).until is None
    # ...but plain SQL can close past it; then it cannot be stopped.
    await db.engine.run_ddl(f"UPDATE closing SET until = '{datetime(2026, 12, 1, tzinfo=UTC)}'")
    stopped = await api.stop(str(member.id), at="2026-12-01T06:00:00Z")
    assert stopped.status_code == 409
    assert stopped.json()["error"] == (
        "periods starting before 2026-12-01T00:00:00Z are closed: the running session started "
        "before it cannot be added, changed or deleted"
    )
    assert await ActivityPeriod.count().where(ActivityPeriod.end_time.is_null()) == 1


@pytest.mark.parametrize(
    ("until", "status", "error"),
    [
        (
            "2026-12-05T00:00:00Z",
            400,
            "until (2026-12-05T00:00:00Z) is in the future: close only what has happened",
        ),
        ("2026-12-01T00:00:00", 400, "until must be an RFC 3339 time with a UTC offset"),
        ("yesterday", 400, "until must be an RFC 3339 time with a UTC offset"),
        (
            "2026-11-30T00:00:00Z",
            409,
            f"{CLOSED_TEXT} on 2026-12-04T12:00:00Z): closing up to 2026-11-30T00:00:00Z would "
            "reopen some; a superuser reopens in the admin (Forms: Reopen closed periods)",
        ),
    ],
)
async def test_a_closing_that_cannot_be_gets_a_clear_error(api, until, status, error):
    assert (await api.post("/closing", {"until": CLOSED})).status_code == 200
    refused = await api.post("/closing", {"until": until})
    assert refused.status_code == status, refused.text
    assert refused.json()["error"].startswith(error)
    assert (await api.get("/closing")).json()["closed_until"] == CLOSED


async def test_the_member_and_the_reports_say_up_to_when_data_is_closed(api):
    member = str((await make_member("REPORTED")).id)
    assert (await api.get(f"/members/{member}")).json()["closed_until"] is None
    assert (await api.post("/closing", {"until": CLOSED})).status_code == 200
    assert (await api.get(f"/members/{member}")).json()["closed_until"] == CLOSED
    window = {"since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    report = await api.get("/reports/activity", **window)
    assert report.json()["closed_until"] == CLOSED
    # The report cached before a later closing is not answered after it.
    assert (await api.post("/closing", {"until": "2026-12-02T00:00:00Z"})).status_code == 200
    report = await api.get("/reports/activity", **window)
    assert report.json()["closed_until"] == "2026-12-02T00:00:00Z"


async def test_closing_waits_for_a_session_being_started(pg, app):
    """On PostgreSQL a session start still uncommitted when the books close is not missed:
    the closing waits for it, sees it running, and refuses."""
    import asyncpg

    member = await make_member("JUST ARRIVED")
    writer = await asyncpg.connect(pg.env["DATABASE_URL"])
    try:
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute(
            "INSERT INTO activity_period (member, start_time) VALUES ($1, $2)",
            member.id,
            datetime(2026, 11, 30, 9, tzinfo=UTC),
        )
        closing_task = asyncio.ensure_future(
            closing.close(
                app.state.storage.adapter(), datetime(2026, 12, 1, tzinfo=UTC), "payroll", NOW
            )
        )
        # It waits for the start to commit (a lock on the table), and only then looks.
        assert await lock_waits(writer.fetch) == ["relation"]
        assert not closing_task.done()
        await transaction.commit()
        with pytest.raises(closing.ClosingConflict, match="JUST ARRIVED has a session running"):
            await asyncio.wait_for(closing_task, 30)
    finally:
        await writer.close()
    assert (await closing.current()).until is None
    assert await ActivityPeriod.count() == 1
