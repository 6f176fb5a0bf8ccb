"""The API docs pages take every script and style from this service (in a browser: tests/e2e)."""

from __future__ import annotations

import re

import pytest

from home.api.docs import ASSETS_PATH

PAGES = ["/schema", "/schema/redoc", "/schema/swagger"]


@pytest.mark.parametrize("path", PAGES)
async def test_docs_pages_load_their_assets_from_this_service(client, path):
    page = (await client.get(path)).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert assets
    for url in assets:
        assert url.startswith((ASSETS_PATH + "/", "data:")), f"{path} loads {url}"
        if url.startswith(ASSETS_PATH):
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert asset.headers["cache-control"] == "max-age=31536000, public"


@pytest.mark.parametrize("path", PAGES)
async def test_docs_pages_may_reach_nothing_but_this_origin(client, path):
    policy = (await client.get(path)).headers["content-security-policy"]
    assert policy.startswith("default-src 'self' ")
    assert "frame-ancestors 'none'" in policy


async def test_the_documents_keep_the_policy_for_data(client):
    for path in ("/schema/openapi.json", "/schema/openapi.yaml"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
