"""Refresh the screenshots in docs/ (`make screenshots`): the admin and the dashboard, from a real
server with seeded demo data."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import expect, sync_playwright

from home.tooling.cli import PROJECT_DIR
from tests.e2e.harness import CHROMIUM_ARGS, find_chromium, live_server
from tests.e2e.pages import AddPeriodPage, LoginPage, MemberPage, RowListingPage

DOCS = PROJECT_DIR / "docs"
SEED = "2024"
START = datetime(2021, 3, 4, 9, 15, tzinfo=UTC)


def main() -> int:
    """Write docs/admin-*.png; exit non-zero without Chromium."""
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium at /usr/bin/chromium: apt-get install -y chromium", file=sys.stderr)
        return 1
    DOCS.mkdir(exist_ok=True)
    with live_server() as server, sync_playwright() as playwright:
        server.piccolo("home", "populate", "60", "--periods=12", f"--seed={SEED}")
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 720}, timezone_id="UTC", locale="en-GB"
        )
        page = context.new_page()
        login = LoginPage(page, server.admin_url)
        login.reset()
        login.login()
        page.wait_for_url(f"{server.admin_url}/#/")

        members = RowListingPage(page, server.admin_url, "member")
        members.reset()
        _shoot(page, "admin-members.png")

        member = sorted(server.fetch()["members"], key=lambda m: m["real_name"])[0]
        member_page = MemberPage(page, server.admin_url, member["id"])
        member_page.reset()
        member_page.show_references.click()
        expect(member_page.periods_link).to_be_visible()
        _shoot(page, "admin-member.png")

        member_page.periods_link.click()
        periods = RowListingPage(page, server.admin_url, "activity_period")
        periods.wait()
        _shoot(page, "admin-member-periods.png")

        add = AddPeriodPage(page, server.admin_url)
        add.reset()
        add.choose_member(member["real_name"])
        add.set_time("Start Time", START)
        add.set_time("End Time", START - timedelta(hours=1))
        add.submit()
        expect(add.errors.box).to_be_visible()
        _shoot(page, "admin-period-refused.png")

        # A few members logged in right now, as a client system would record it.
        key = (
            server.piccolo(
                "home",
                "new_api_key",
                "screenshots",
                "--scope=read,sessions:write,members:write,admin",
            )
            .strip()
            .splitlines()[-1]
        )
        for listed in server.fetch()["members"][:4]:
            httpx.post(
                f"{server.url}/api/members/{listed['id']}/sessions/start",
                headers={"authorization": f"Bearer {key}"},
                json={},
                timeout=30,
            ).raise_for_status()
        for name, viewport in (
            ("dashboard.png", {"width": 1280, "height": 720}),
            ("dashboard-phone.png", {"width": 390, "height": 844}),
        ):
            sized = browser.new_context(
                viewport=viewport, storage_state=context.storage_state(), timezone_id="UTC"
            )
            dashboard = sized.new_page()
            dashboard.goto(f"{server.url}/dashboard/")
            expect(dashboard.locator("body")).to_have_attribute("data-loaded", "30:member")
            _shoot(dashboard, name, full_page=True)
            sized.close()
        browser.close()
    return 0


def _shoot(page, name: str, full_page: bool = False) -> None:
    path = DOCS / name
    page.screenshot(path=str(path), full_page=full_page)
    print(f"wrote {path.relative_to(PROJECT_DIR)}")


if __name__ == "__main__":
    raise SystemExit(main())
