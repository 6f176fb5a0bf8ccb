"""Browser fixtures: one real server on a fresh SQLite database and one headless Chromium.

Without Chromium the browser tests are skipped with the reason; in CI (CI=true) that is a
failure, because `.ci/run` installs it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from home.tooling.servers import Server
from tests.e2e.harness import CHROMIUM_ARGS, find_chromium, live_server
from tests.e2e.pages import LoginPage

IN_CI = os.environ.get("CI", "").lower() == "true"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session", autouse=True)
def patient_assertions() -> None:
    """`expect(...)` waits up to 30 s (Playwright's default is 5): on a loaded machine a page
    that works can take longer than that to get there."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; skip loudly without it (fail in CI)."""
    path = find_chromium()
    if path is None:
        message = (
            "BROWSER TESTS NOT RUN: no Chromium at /usr/bin/chromium "
            "(install it: apt-get install -y chromium, or set CHROMIUM_PATH)"
        )
        if IN_CI:
            pytest.fail(message + " - CI=true requires them")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def server(chromium_path, tmp_path_factory) -> Iterator[Server]:
    """uvicorn serving the app on a free local port, on a freshly migrated SQLite file."""
    with live_server(Path(tmp_path_factory.mktemp("e2e"))) as running:
        yield running


# Module scope: Playwright's sync API keeps an event loop marked as running while it is open,
# which would stop pytest-asyncio from running the async tests collected after this package.
@pytest.fixture(scope="module")
def browser(chromium_path):
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _context(browser, **kwargs):
    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC", locale="en-GB", **kwargs)
    # Deadlines for a loaded machine: a page that works gets there well before them.
    context.set_default_timeout(60_000)
    return context


@pytest.fixture(scope="module")
def admin_session(browser, server) -> dict:
    """Cookies of one admin login, reused so the tests stay inside the login rate limit."""
    context = _context(browser)
    page = context.new_page()
    login = LoginPage(page, server.admin_url)
    login.reset()
    response = login.login()
    assert response.status == 200, response.text()
    page.wait_for_url(f"{server.admin_url}/#/")
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def anonymous_page(browser):
    """A page in a fresh browser context, not logged in."""
    context = _context(browser)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(browser, admin_session):
    """A page in a fresh browser context, logged in as the admin."""
    context = _context(browser, storage_state=admin_session)
    yield context.new_page()
    context.close()
