"""The audit trail: every write, by whom, with the values before and after, in its transaction."""

from __future__ import annotations

import json

import pytest

from home.roster.demo import populate_roster
from home.roster.tables import AuditEntry
from tests.api.test_members import at
from tests.factories import make_member, write_outside_app
from tests.support.admin import logged_in

pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")


async def entries(table: str | None = None) -> list[dict]:
    query = AuditEntry.select().order_by(AuditEntry.id)
    if table is not None:
        query = query.where(AuditEntry.table_name == table)
    rows = await query
    for row in rows:
        row["before"] = None if row["before"] is None else json.loads(row["before"])
        row["after"] = None if row["after"] is None else json.loads(row["after"])
    return rows


async def test_api_writes_are_credited_to_the_key_with_before_and_after(system):
    member = await system.add_member("Ada", "UTC")
    session = (await system.start(member, at=at(2))).json()
    await system.stop(member, at=at(1))
    [created] = await entries("member")
    assert created["actor"] == f"api key {system.name}"
    assert (created["row_id"], created["action"], created["before"]) == (member, "insert", None)
    assert created["after"]["real_name"] == "Ada"
    started, stopped = await entries("activity_period")
    assert started["action"] == "insert" and started["after"]["end_time"] is None
    assert stopped["action"] == "update" and stopped["row_id"] == str(session["id"])
    assert stopped["before"]["end_time"] is None and stopped["after"]["end_time"] is not None
    assert {entry["actor"] for entry in (started, stopped)} == {f"api key {system.name}"}


async def test_a_refused_write_leaves_no_entry(system):
    member = await system.add_member()
    await system.start(member, at=at(2))
    count = len(await entries())
    assert (await system.start(member)).status_code == 409
    assert (await system.add_period(member, at(3), at(1))).status_code == 409
    assert len(await entries()) == count


async def test_admin_writes_are_credited_to_the_operator(client):
    admin = await logged_in(client, "auditor")
    added = await admin.add_member("FROM ADMIN")
    member_id = added.json()[0]["id"]
    await admin.send("PATCH", f"/api/tables/member/{member_id}/", {"real_name": "RENAMED"})
    await admin.send("DELETE", f"/api/tables/member/{member_id}/")
    actions = [(entry["actor"], entry["action"]) for entry in await entries("member")]
    assert actions == [("admin auditor", "insert"), ("admin auditor", "update"),
                       ("admin auditor", "delete")]  # fmt: skip
    update = (await entries("member"))[1]
    assert (update["before"]["real_name"], update["after"]["real_name"]) == (
        "FROM ADMIN",
        "RENAMED",
    )


async def test_a_cascade_is_recorded_row_by_row(system, client):
    member = await system.add_member()
    await system.add_period(member, at(3), at(2))
    admin = await logged_in(client, "cleaner")
    assert (await admin.send("DELETE", f"/api/tables/member/{member}/")).status_code == 204
    deleted = [e for e in await entries() if e["action"] == "delete"]
    assert {(e["table_name"], e["actor"]) for e in deleted} == {
        ("activity_period", "admin cleaner"),
        ("member", "admin cleaner"),
    }


async def test_writes_outside_the_app_are_credited_to_sql_and_never_to_the_last_caller(system, db):
    member = await system.add_member()
    await write_outside_app(db, f"UPDATE member SET tz = 'Asia/Kolkata' WHERE id = '{member}'")
    last = (await entries("member"))[-1]
    assert last["actor"] == "sql" and last["after"]["tz"] == "Asia/Kolkata"


async def test_demo_data_is_one_entry_for_the_whole_run(adapter):
    await make_member()
    before = len(await entries())
    await populate_roster(adapter, 120, periods=2, seed=1, actor="admin demo")
    [bulk] = (await entries())[before:]
    assert (bulk["actor"], bulk["action"]) == ("admin demo", "bulk insert")
    assert bulk["after"] == {"members": 120, "periods": 240, "days": 30, "seed": 1}
    # The per-row triggers are back for the next writer.
    await make_member()
    assert (await entries())[-1]["action"] == "insert"


async def test_the_admin_lists_the_trail_and_cannot_change_it(client):
    admin = await logged_in(client, "reader")
    await admin.add_member("LISTED")
    rows = (await admin.get("/tables/audit_entry/")).json()["rows"]
    assert [row["action"] for row in rows] == ["insert"]
    entry_id = rows[0]["id"]
    for method, path, body in (
        ("POST", "/api/tables/audit_entry/", {"actor": "x"}),
        ("PATCH", f"/api/tables/audit_entry/{entry_id}/", {"actor": "x"}),
        ("DELETE", f"/api/tables/audit_entry/{entry_id}/", None),
    ):
        response = await admin.send(method, path, body)
        assert response.status_code == 405, (method, response.text)
        assert "read-only" in response.text
    assert len(await entries()) == 1
