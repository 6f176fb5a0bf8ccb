"""Read-only staff in a real Chromium: they log in, see the data and the dashboard, find no
button that would change anything, and an edit sent with their session is refused."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from home.tooling.servers import Server
from tests.e2e.pages import LoginPage, RowListingPage

VIEWER, PASSWORD = "viewer", "viewer-password-42"


@pytest.fixture(scope="module")
def viewer(server: Server) -> str:
    """A read-only staff account, made as an operator would (the password on standard input)."""
    server.piccolo("home", "new_staff", VIEWER, "--read_only", input_text=f"{PASSWORD}\n")
    server.piccolo("home", "populate", "5", "--periods=2")
    return VIEWER


def test_read_only_staff_see_everything_and_change_nothing(
    anonymous_page: Page, server: Server, viewer: str
):
    page = anonymous_page
    login = LoginPage(page, server.admin_url)
    login.reset()
    assert login.login(viewer, PASSWORD).status == 200
    page.wait_for_url(f"{server.admin_url}/#/")
    members = RowListingPage(page, server.admin_url, "member")
    members.reset()
    expect(members.rows.first).to_be_visible()
    first_name = members.rows.first.locator("td").nth(1).inner_text()
    # No button that would add, save or delete.
    expect(page.locator('[data-uitest="delete_row_button"]')).to_have_count(0)
    expect(page.get_by_role("link", name="Add Row")).to_be_hidden()
    member_id = next(m["id"] for m in server.fetch()["members"] if m["real_name"] == first_name)
    page.goto(f"{server.admin_url}/#/member/{member_id}/")
    expect(page.locator('input[name="real_name"]')).to_have_value(first_name)
    expect(page.locator('button[data-uitest="save_button"]')).to_be_hidden()
    # An edit sent anyway, with the browser's own session and CSRF token, is refused.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    refused = page.request.patch(
        f"{server.admin_url}/api/tables/member/{member_id}/",
        data=json.dumps({"real_name": "CHANGED"}),
        headers={"content-type": "application/json", "x-csrftoken": csrf},
    )
    assert refused.status == 403
    assert "read-only staff" in refused.json()["detail"]
    assert any(m["real_name"] == first_name for m in server.fetch()["members"])
    # The dashboard is theirs too.
    page.goto(f"{server.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
