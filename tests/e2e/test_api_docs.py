"""The API docs (Redoc at /schema, Swagger UI at /schema/swagger) open without the internet."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from home.tooling.servers import Server

LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def block_the_internet(page: Page) -> list[str]:
    """Abort every request that leaves this machine; return the list of those aborted."""
    left: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            left.append(url)
            route.abort("internetdisconnected")

    page.context.route("**/*", handle)
    return left


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
def test_api_docs_show_fetch_without_the_internet(anonymous_page: Page, server: Server, path):
    """Make sure each docs page draws the /fetch operation from our own origin alone."""
    left = block_the_internet(anonymous_page)
    response = anonymous_page.goto(server.url + path)
    assert response is not None and response.status == 200
    # Redoc also lists it in a collapsed menu: look for the one drawn on the page.
    operation = anonymous_page.get_by_text("Members with their activity periods", exact=True)
    expect(operation.filter(visible=True).first).to_be_visible(timeout=15_000)
    anonymous_page.wait_for_load_state("networkidle")
    assert left == [], f"{path} asked the internet for {left}"
