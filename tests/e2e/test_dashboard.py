"""The dashboard, in a real Chromium: behind the admin login, every chart drawn from the
reports API, the range picker changing what it shows."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from home.tooling.servers import Server
from tests.e2e.harness import ADMIN_PASSWORD, ADMIN_USERNAME

CHARTS = ("per-day", "top-members", "zones", "lengths")


@pytest.fixture(scope="module")
def activity(server: Server) -> None:
    """Members with sessions in the last days and weeks, and one on right now (since half an
    hour ago), recorded through the API as a client system would."""
    key = (
        server.piccolo(
            "home",
            "new_api_key",
            "dashboard-e2e",
            "--scope=read,sessions:write,members:write,admin",
        )
        .strip()
        .splitlines()[-1]
    )
    headers = {"authorization": f"Bearer {key}"}
    now = datetime.now(UTC).replace(microsecond=0)
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        for index, zone in enumerate(("Europe/Berlin", "Asia/Kolkata", "America/New_York")):
            member = http.post(
                "/api/members", json={"real_name": f"DASH{index}", "tz": zone}
            ).json()["id"]
            for days_ago, hours in ((0.5, 2 + index), (3, 4), (20, 6)):
                start = now - timedelta(days=days_ago, hours=hours)
                answer = http.post(
                    f"/api/members/{member}/periods",
                    json={
                        "start_time": start.isoformat(),
                        "end_time": (start + timedelta(hours=hours)).isoformat(),
                    },
                )
                assert answer.status_code == 201, answer.text
        # Running for half an hour: whatever the weekday, it counts in this week's chart.
        started = http.post(
            f"/api/members/{member}/sessions/start",
            json={"at": (now - timedelta(minutes=30)).isoformat()},
        )
        assert started.status_code == 201, started.text


def api_total(server: Server, days: int) -> int:
    """The seconds the reports API counts for the last `days` days, as the page asks."""
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    report = httpx.get(
        f"{server.url}/api/reports/activity", params={"since": since, "top": 10}, timeout=30
    ).json()
    return sum(report["totals"].values())


def test_the_dashboard_sends_you_to_the_admin_login_and_back(
    anonymous_page: Page, server: Server, activity
):
    page = anonymous_page
    page.goto(f"{server.url}/dashboard/")
    page.wait_for_url("**/admin/#/login/**")
    page.locator('input[name="username"]').fill(ADMIN_USERNAME)
    page.locator('input[name="password"]').fill(ADMIN_PASSWORD)
    page.locator('[data-uitest="login_button"]').click()
    page.wait_for_url(f"{server.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")


def test_every_chart_draws_the_reports_data(page: Page, server: Server, activity):
    page.goto(f"{server.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
    for chart in CHARTS:
        drawn = page.locator(f"#{chart}")
        expect(drawn).to_have_attribute("data-drawn", "true")
        assert int(drawn.get_attribute("data-points")) > 0, chart
        expect(drawn.locator("g.point").first).to_be_attached()
    expect(page.get_by_test_id("active-count")).to_have_text("1")
    expect(page.get_by_test_id("active-list")).to_contain_text("DASH2 (America/New_York)")


def test_the_totals_match_the_api_and_the_range_picker_changes_them(
    page: Page, server: Server, activity
):
    page.goto(f"{server.url}/dashboard/")
    total = page.get_by_test_id("total-hours")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
    month = int(total.get_attribute("data-seconds"))
    assert abs(month - api_total(server, 30)) <= 120  # the running session grows meanwhile
    page.locator("#range").select_option("7")
    expect(page.locator("body")).to_have_attribute("data-loaded", "7:member")
    week = int(total.get_attribute("data-seconds"))
    assert abs(week - api_total(server, 7)) <= 120
    assert week < month - 3 * 6 * 3600 + 600  # the sessions 20 days ago are out
    page.locator("#calendar").select_option("UTC")
    expect(page.locator("body")).to_have_attribute("data-loaded", "7:UTC")
    expect(page.locator("#status")).to_contain_text("UTC")


def test_the_admin_links_to_the_dashboard(page: Page, server: Server):
    page.goto(f"{server.admin_url}/#/")
    link = page.get_by_role("link", name="Dashboard")
    expect(link).to_have_attribute("href", "/dashboard/")


@pytest.mark.parametrize("size", [(1280, 720), (390, 844)], ids=["desktop", "phone"])
def test_the_dashboard_fits_desktop_and_phone(browser, admin_session, server, activity, size):
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height}, storage_state=admin_session
    )
    page = context.new_page()
    page.goto(f"{server.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for chart in CHARTS:
        box = page.locator(f"#{chart}").bounding_box()
        assert box is not None and box["width"] <= width
    context.close()


def test_the_dashboard_follows_changes_without_a_reload(page: Page, server: Server, activity):
    reports: list[float] = []
    page.on(
        "request",
        lambda request: (
            reports.append(time.monotonic())
            if "/api/reports/activity" in request.url and "group=day" in request.url
            else None
        ),
    )
    page.goto(f"{server.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
    expect(page.get_by_test_id("live")).to_have_attribute("data-state", "on")
    page.evaluate("window.notReloaded = true")
    key = server.piccolo(
        "home",
        "new_api_key",
        f"live-{time.monotonic_ns()}",
        "--scope=read,sessions:write,members:write,admin",
    ).splitlines()[-1]
    headers = {"authorization": f"Bearer {key}"}
    before = len(reports)
    started = time.monotonic()
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        member = http.post("/api/members", json={"real_name": "LIVEDASH", "tz": "UTC"}).json()
        assert http.post(f"/api/members/{member['id']}/sessions/start", json={}).status_code == 201
        # A burst of changes is a refresh now and then, not one per change.
        for number in range(10):
            assert http.post("/api/members", json={"real_name": f"BURST{number}", "tz": "UTC"})
    expect(page.get_by_test_id("active-list")).to_contain_text("LIVEDASH (UTC)")
    expect(page.get_by_test_id("active-count")).to_have_text("2")
    assert page.evaluate("window.notReloaded") is True
    # Every refresh the changes called for has happened: count them.
    expect(page.locator("body")).to_have_attribute("data-pending", "false")
    refreshes = len(reports) - before
    assert 1 <= refreshes <= (time.monotonic() - started) / 1.0 + 1, refreshes


HOSTILE = '<a href="https://evil.example/">EVIL</a> & <b style="color:red">co</b>'


def test_member_names_are_shown_as_typed_never_as_markup(page: Page, server: Server, activity):
    """Plotly renders links and styles in labels: a name is shown as its text, and two members
    of one name get a bar each."""
    key = server.piccolo("home", "new_api_key", "names-e2e", "--scope=members:write,sessions:write")
    headers = {"authorization": f"Bearer {key.strip().splitlines()[-1]}"}
    started = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        for _ in range(2):
            member = http.post("/api/members", json={"real_name": HOSTILE, "tz": "UTC"}).json()
            answer = http.post(f"/api/members/{member['id']}/sessions/start", json={"at": started})
            assert answer.status_code == 201, answer.text
    page.goto(f"{server.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
    chart = page.locator("#top-members")
    expect(chart.locator(".ytick text", has_text="EVIL")).to_have_count(2)
    assert chart.locator(".ytick text", has_text="EVIL").all_text_contents() == [HOSTILE] * 2
    assert chart.locator("a").count() == 0  # no link made from a name
    assert chart.locator("[style*='color:red'], [style*='color: red']").count() == 0
