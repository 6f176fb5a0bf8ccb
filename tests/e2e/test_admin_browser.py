"""The admin, driven in a real Chromium against a real server."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from home.tooling.servers import Server
from tests.e2e.pages import (
    AddMemberPage,
    AddPeriodPage,
    ClosingForm,
    DemoMembersForm,
    FormErrors,
    LoginPage,
    MemberPage,
    Nav,
    RowListingPage,
)

START = datetime(2021, 3, 4, 9, 15, tzinfo=UTC)


def unique_name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8].upper()}"


def fetched_member(server: Server, real_name: str) -> dict | None:
    return next((m for m in server.fetch()["members"] if m["real_name"] == real_name), None)


def create_member(page: Page, server: Server, real_name: str, tz: str) -> str:
    """Add a member through the admin's form; return its id."""
    add = AddMemberPage(page, server.admin_url)
    add.reset()
    add.fill(real_name, tz)
    response = add.submit()
    assert response.status == 201, response.text()
    return str(response.json()[0]["id"])


def test_login_opens_the_roster_admin(anonymous_page: Page, server: Server):
    """Make sure the admin logs in and shows the service's name and its two tables."""
    login = LoginPage(anonymous_page, server.admin_url)
    login.reset()
    assert login.login().status == 200
    anonymous_page.wait_for_url(f"{server.admin_url}/#/")
    expect(anonymous_page).to_have_title("Roster Admin")
    expect(anonymous_page.get_by_role("heading", name="Welcome to Roster Admin")).to_be_visible()
    for table in ("member", "activity period"):
        expect(anonymous_page.get_by_role("link", name=table, exact=True)).to_be_visible()
    expect(anonymous_page.get_by_role("link", name="Generate demo members")).to_be_visible()
    expect(anonymous_page.get_by_text("Piccolo Admin")).to_have_count(0)


def test_wrong_password_is_refused(anonymous_page: Page, server: Server):
    """Make sure a wrong password keeps the operator out with a visible message."""
    login = LoginPage(anonymous_page, server.admin_url)
    login.reset()
    response = login.login(password="not-the-password")
    assert response.status == 401
    expect(anonymous_page.get_by_text("Problem logging in")).to_be_visible()
    assert anonymous_page.url.endswith("#/login")
    api = anonymous_page.request.get(f"{server.admin_url}/api/tables/member/")
    assert api.status == 401


def test_create_member_choosing_a_zone(page: Page, server: Server):
    """Make sure a member is created with a zone picked from the list of valid zones."""
    name = unique_name("ZONE")
    add = AddMemberPage(page, server.admin_url)
    add.reset()
    assert add.zone_select.evaluate("element => element.tagName") == "SELECT"
    options = add.zone_select.locator("option").all_inner_texts()
    assert "Asia/Kolkata" in options and "Not/AZone" not in options
    add.fill(name, "Asia/Kolkata")
    assert add.submit().status == 201
    listing = RowListingPage(page, server.admin_url, "member")
    listing.reset()
    expect(page.locator("table tbody tr", has_text=name)).to_contain_text("Asia/Kolkata")


def test_add_period_on_member_page(page: Page, server: Server):
    """Make sure a member's page leads to their periods and a period can be added for them."""
    name = unique_name("PERIOD")
    member_id = create_member(page, server, name, "Europe/Berlin")
    member_page = MemberPage(page, server.admin_url, member_id)
    member_page.reset()
    member_page.open_periods()
    expect(page).to_have_url(re.compile(rf"#/activity_period/?\?member={member_id}$"))
    listing = RowListingPage(page, server.admin_url, "activity_period")
    listing.wait()
    expect(listing.rows).to_have_count(0)

    add = AddPeriodPage(page, server.admin_url)
    with page.expect_response(add._defaults_loaded):
        listing.add_button.click()
    add.wait_until_ready()
    add.choose_member(name)
    add.set_time("Start Time", START)
    add.set_time("End Time", START + timedelta(hours=2, minutes=30))
    assert add.submit().status == 201

    member_page.reset()
    member_page.open_periods()
    listing.wait()
    expect(listing.rows).to_have_count(1)
    expect(listing.rows.first).to_contain_text(name)
    expect(listing.rows.first).to_contain_text("2 hours 30 minutes")


def test_new_member_and_period_appear_on_fetch(page: Page, server: Server):
    """Make sure what the admin creates is on the very next GET /fetch/."""
    name = unique_name("FETCH")
    create_member(page, server, name, "America/Los_Angeles")
    assert fetched_member(server, name)["activity"] == []

    add = AddPeriodPage(page, server.admin_url)
    add.reset()
    add.choose_member(name)
    add.set_time("Start Time", START)
    add.set_time("End Time", START + timedelta(minutes=45))
    assert add.submit().status == 201

    member = fetched_member(server, name)
    assert member["tz"] == "America/Los_Angeles"
    assert member["activity"] == [
        {"start_time": "March 04 2021 09:15", "end_time": "March 04 2021 10:00"}
    ]


def test_end_before_start_is_refused_with_visible_message(page: Page, server: Server):
    """Make sure a period ending before it starts is refused with a message and not stored."""
    name = unique_name("BACKWARDS")
    create_member(page, server, name, "UTC")
    add = AddPeriodPage(page, server.admin_url)
    add.reset()
    add.choose_member(name)
    add.set_time("Start Time", START)
    add.set_time("End Time", START - timedelta(hours=1))
    response = add.submit()
    assert response.status == 422
    [message] = add.errors.texts()
    assert message.startswith("end_time field - end_time (2021-03-04T08:15:00+00:00) is before")
    assert "a period must end at or after its start" in message
    expect(page.get_by_text("The form has errors")).to_be_visible()
    assert fetched_member(server, name)["activity"] == []


def test_overlapping_period_is_refused_with_visible_message(page: Page, server: Server):
    """Make sure a period overlapping another of the member's is refused with a message naming
    it, and not stored."""
    name = unique_name("OVERLAP")
    create_member(page, server, name, "UTC")
    add = AddPeriodPage(page, server.admin_url)
    add.reset()
    add.choose_member(name)
    add.set_time("Start Time", START)
    add.set_time("End Time", START + timedelta(hours=2))
    assert add.submit().status == 201

    add.reset()
    add.choose_member(name)
    add.set_time("Start Time", START + timedelta(hours=1))
    add.set_time("End Time", START + timedelta(hours=3))
    assert add.submit().status == 422
    [message] = add.errors.texts()
    assert message.startswith("start_time field - the period overlaps period ")
    assert "(2021-03-04T09:15:00Z to 2021-03-04T11:15:00Z)" in message
    expect(page.get_by_text("The form has errors")).to_be_visible()
    assert len(fetched_member(server, name)["activity"]) == 1


def test_deleting_a_member_asks_first_and_removes_their_periods(page: Page, server: Server):
    """Make sure deleting a member is confirmed first and takes their periods with them."""
    name = unique_name("DELETE")
    member_id = create_member(page, server, name, "UTC")
    add = AddPeriodPage(page, server.admin_url)
    add.reset()
    add.choose_member(name)
    add.set_time("Start Time", START)
    add.set_time("End Time", START + timedelta(hours=1))
    assert add.submit().status == 201

    member_page = MemberPage(page, server.admin_url, member_id)
    member_page.reset()
    assert member_page.delete() == "Are you sure you want to delete this row?"
    assert fetched_member(server, name) is None
    periods = page.request.get(
        f"{server.admin_url}/api/tables/activity_period/count/", params={"member": member_id}
    )
    assert periods.json()["count"] == 0


def test_member_with_empty_name_is_refused_with_visible_message(page: Page, server: Server):
    """Make sure a member without a name is refused with a message and not stored."""
    before = len(server.fetch()["members"])
    add = AddMemberPage(page, server.admin_url)
    add.reset()
    add.fill("   ", "UTC")
    assert add.submit().status == 422
    assert add.errors.texts() == ["real_name field - real_name must not be empty"]
    assert len(server.fetch()["members"]) == before


def test_member_with_over_long_name_is_refused_with_visible_message(page: Page, server: Server):
    """Make sure a member name over 100 characters is refused with a message and not stored."""
    before = len(server.fetch()["members"])
    add = AddMemberPage(page, server.admin_url)
    add.reset()
    add.fill("N" * 101, "UTC")
    assert add.submit().status == 422
    assert add.errors.texts() == [
        "real_name field - real_name is 101 characters long; the limit is 100"
    ]
    assert len(server.fetch()["members"]) == before


def test_demo_form_creates_members(page: Page, server: Server):
    """Make sure "Generate demo members" adds members with periods, as the CLI does."""
    before = len(server.fetch()["members"])
    form = DemoMembersForm(page, server.admin_url)
    form.reset()
    response = form.submit(3, 2)
    assert response.status == 200
    expect(page.get_by_text("Created 3 members and 6 activity periods")).to_be_visible()
    members = server.fetch()["members"]
    assert len(members) == before + 3


def test_demo_form_refuses_a_count_over_the_limit(page: Page, server: Server):
    """Make sure the demo form applies the CLI's limits and shows why, writing nothing."""
    before = len(server.fetch()["members"])
    form = DemoMembersForm(page, server.admin_url)
    form.reset()
    assert form.submit(10_001, 3).status == 422
    assert form.errors.texts() == ["count must be from 1 to 10,000, not 10,001"]
    assert len(server.fetch()["members"]) == before


def test_closed_periods_stay_as_they_are(page: Page, server: Server):
    """Make sure an operator closes the books in a form, and deleting a member who has a closed
    period then shows a message naming the closing and keeps the member."""
    name = unique_name("CLOSED")
    member_id = create_member(page, server, name, "UTC")
    add = AddPeriodPage(page, server.admin_url)
    add.reset()
    add.choose_member(name)
    long_ago = datetime(1999, 3, 4, 9, tzinfo=UTC)  # before every other test's periods
    add.set_time("Start Time", long_ago)
    add.set_time("End Time", long_ago + timedelta(hours=2))
    assert add.submit().status == 201
    form = ClosingForm(page, server.admin_url, "close-periods")
    form.reset()
    assert form.submit("2000-01-01T00:00:00Z").status == 200
    closed = "periods starting before 2000-01-01T00:00:00Z are closed (closed by admin e2e-admin"
    try:
        expect(page.get_by_text(closed)).to_be_visible()
        member_page = MemberPage(page, server.admin_url, member_id)
        member_page.reset()
        member_page.delete()
        expect(page.get_by_text("Unable to delete the row.")).to_be_visible()
        [message] = FormErrors(page).texts()
        assert closed in message and "nor a member who has one" in message
        assert len(fetched_member(server, name)["activity"]) == 1
    finally:
        form = ClosingForm(page, server.admin_url, "reopen-closed-periods")
        form.reset()
        assert form.submit("").status == 200
    expect(page.get_by_text("Reopened: nothing is closed")).to_be_visible()


def test_csv_export_downloads_the_periods(page: Page, server: Server):
    """Make sure the period list exports as CSV with the member's name and the duration."""
    name = unique_name("CSV")
    create_member(page, server, name, "UTC")
    add = AddPeriodPage(page, server.admin_url)
    add.reset()
    add.choose_member(name)
    add.set_time("Start Time", START)
    add.set_time("End Time", START + timedelta(hours=1))
    assert add.submit().status == 201

    listing = RowListingPage(page, server.admin_url, "activity_period")
    listing.reset()
    page.locator("a[data-uitest=csv_button]").click()
    with page.expect_download() as info:
        page.locator("button[data-uitest=download_csv_button]").click()
    download = info.value
    assert download.suggested_filename == "activity_period.csv"
    text = Path(download.path()).read_text(encoding="utf-8")
    header, *lines = text.splitlines()
    assert "member_readable" in header and "duration" in header
    assert any(name in line for line in lines)


def test_log_out(anonymous_page: Page, server: Server):
    """Make sure logging out ends the session: the admin's API refuses it afterwards."""
    login = LoginPage(anonymous_page, server.admin_url)
    login.reset()
    assert login.login().status == 200
    anonymous_page.wait_for_url(f"{server.admin_url}/#/")
    assert anonymous_page.request.get(f"{server.admin_url}/api/user/").status == 200
    Nav(anonymous_page, server.admin_url).logout()
    expect(anonymous_page.locator('button[data-uitest="login_button"]')).to_be_visible()
    assert anonymous_page.request.get(f"{server.admin_url}/api/user/").status == 401
