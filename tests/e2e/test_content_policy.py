"""The pages' Content-Security-Policy, in a real Chromium: the admin and the dashboard load only
this origin's scripts and styles, and work under it without a single violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from home.tooling.servers import Server
from tests.e2e.pages import AddMemberPage, RowListingPage

# Each violation the page reports, as "<directive> <blocked URI>".
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def policy_of(page: Page, url: str) -> str:
    response = page.goto(url)
    assert response is not None and response.ok, url
    return response.headers["content-security-policy"]


def test_the_admin_and_the_dashboard_run_under_a_strict_policy(page: Page, server: Server):
    page.add_init_script(RECORD_VIOLATIONS)
    for url in (f"{server.admin_url}/", f"{server.url}/dashboard/"):
        policy = policy_of(page, url)
        for directive in ("default-src 'self'", "object-src 'none'", "base-uri 'none'"):
            assert directive in policy, (url, policy)
    # No inline script anywhere; on the dashboard not even eval.
    assert "script-src 'self' 'unsafe-eval';" in policy_of(page, f"{server.admin_url}/")
    dashboard = policy_of(page, f"{server.url}/dashboard/")
    assert "script-src" not in dashboard and "unsafe-eval" not in dashboard
    # The admin: its pages, lists and forms ...
    page.goto(f"{server.admin_url}/#/")
    RowListingPage(page, server.admin_url, "member").reset()
    AddMemberPage(page, server.admin_url).reset()
    assert page.evaluate("window.violations") == []
    # ... and the dashboard with every chart drawn.
    page.goto(f"{server.url}/dashboard/")
    expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
    assert page.evaluate("window.violations") == []


@pytest.mark.parametrize("where", ["admin", "dashboard"])
def test_an_injected_script_is_refused(page: Page, server: Server, where: str):
    page.add_init_script(RECORD_VIOLATIONS)
    if where == "admin":
        page.goto(f"{server.admin_url}/#/")
        RowListingPage(page, server.admin_url, "member").reset()
    else:
        page.goto(f"{server.url}/dashboard/")
        expect(page.locator("body")).to_have_attribute("data-loaded", "30:member")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.injected = true";
          document.body.append(script);
        }"""
    )
    assert page.evaluate("window.injected") is None
    assert any(v.startswith("script-src") for v in page.evaluate("window.violations"))
