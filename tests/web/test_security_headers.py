"""Security headers on every response, HSTS over HTTPS only, nothing active in JSON."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize(
    "path", ["/fetch/", "/health/live", "/no/such/page", "/admin/", "/schema/openapi.json"]
)
async def test_every_response_carries_security_headers(client, path):
    response = await client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers


async def test_hsts_only_when_served_over_https(client):
    transport = httpx.ASGITransport(app=client._transport.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        response = await https.get("/fetch/")
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_json_responses_forbid_active_content(client):
    response = await client.get("/fetch/")
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
