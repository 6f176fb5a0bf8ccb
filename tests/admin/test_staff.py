"""Read-only staff: admin users who are not superusers browse everything and change nothing,
refused on the server with 403 whatever the page shows; `piccolo home new_staff` makes them."""

from __future__ import annotations

import pytest
from piccolo.apps.user.tables import BaseUser

from home.roster.tables import ActivityPeriod, ApiKey, AuditEntry, Member
from home.tooling import cli
from tests.factories import make_member, make_period
from tests.support.admin import AdminSession, logged_in

pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")

READ_ONLY = "you are read-only staff"


@pytest.fixture
async def staff(client) -> AdminSession:
    return await logged_in(client, "viewer", read_only=True)


async def test_read_only_staff_browse_every_table_and_the_dashboard(staff, client):
    member = await make_member("SEEN")
    await make_period(member)
    for table in ("member", "activity_period", "api_key", "audit_entry", "webhook_endpoint"):
        listed = await staff.get(f"/tables/{table}/")
        assert listed.status_code == 200, (table, listed.text)
    assert [row["real_name"] for row in (await staff.get("/tables/member/")).json()["rows"]] == [
        "SEEN"
    ]
    assert (await client.get("/dashboard/")).status_code == 200
    assert (await client.get("/api/reports/zones")).status_code == 200
    page = await client.get("/admin/")
    assert b"read-only.css" in page.content


async def test_every_write_of_read_only_staff_is_refused_and_nothing_changes(staff):
    member = await make_member("KEPT")
    period = await make_period(member)
    attempts = [
        ("POST", "/api/tables/member/", {"real_name": "NEW", "tz": "UTC"}),
        ("PATCH", f"/api/tables/member/{member.id}/", {"real_name": "CHANGED"}),
        ("DELETE", f"/api/tables/member/{member.id}/", None),
        ("DELETE", f"/api/tables/activity_period/{period.id}/", None),
        ("POST", "/api/forms/create-api-key/", {"name": "sneaky", "scopes": "admin"}),
        ("POST", "/api/forms/generate-demo-members/", {"count": 5, "periods": 1}),
        ("POST", "/api/forms/register-webhook-endpoint/", {"url": "https://x.example/"}),
    ]
    for method, path, body in attempts:
        refused = await staff.send(method, path, body)
        assert refused.status_code == 403, (method, path, refused.text)
        assert READ_ONLY in refused.json()["detail"], (method, path)
    assert [row["real_name"] for row in await Member.select(Member.real_name)] == ["KEPT"]
    assert await ActivityPeriod.count() == 1 and await ApiKey.count() == 0
    assert await AuditEntry.count().where(AuditEntry.actor == "admin viewer") == 0
    # Their own session still works: they log out.
    assert (await staff.logout()).status_code in (200, 303)


async def test_a_superuser_writes_and_sees_no_read_only_sheet(client):
    admin = await logged_in(client, "boss")
    assert (await admin.add_member("WRITTEN")).status_code == 201
    assert b"read-only.css" not in (await client.get("/admin/")).content


async def test_new_staff_reads_the_password_from_standard_input(db, cli_env):
    made = cli.run(
        [str(cli.BIN_DIR / "piccolo"), "home", "new_staff", "auditor", "--read_only"],
        cli_env,
        input_text="auditor-password-1\n",
    )
    assert made.returncode == 0, made.stderr
    assert "Created 'auditor', read-only staff" in made.stdout
    user = (
        await BaseUser.select(BaseUser.admin, BaseUser.superuser, BaseUser.active)
        .where(BaseUser.username == "auditor")
        .first()
    )
    assert user == {"admin": True, "superuser": False, "active": True}
    assert await BaseUser.login("auditor", "auditor-password-1") is not None
    again = cli.run(
        [str(cli.BIN_DIR / "piccolo"), "home", "new_staff", "auditor"],
        cli_env,
        input_text="auditor-password-1\n",
    )
    assert again.returncode != 0 and "exists already" in again.stderr
    short = cli.run(
        [str(cli.BIN_DIR / "piccolo"), "home", "new_staff", "tiny"], cli_env, input_text="x\n"
    )
    assert short.returncode != 0 and "the password is refused" in short.stderr
    assert await BaseUser.count() == 1
