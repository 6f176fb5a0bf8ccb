"""Security headers on every response, HSTS over HTTPS only, nothing active in JSON."""

from __future__ import annotations

import httpx
import pytest

from home.web.security_headers import ADMIN_POLICY, security_headers


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


async def test_the_admins_page_gets_the_admins_policy(client):
    response = await client.get("/admin/")
    assert response.headers["content-security-policy"] == ADMIN_POLICY.decode()
    assert "script-src 'self' 'unsafe-eval';" in response.headers["content-security-policy"]


async def test_other_pages_load_only_this_origins_scripts(client):
    [(_, policy)] = [
        header
        for header in security_headers("http", [(b"content-type", b"text/html")])
        if header[0] == b"content-security-policy"
    ]
    assert policy.startswith(b"default-src 'self';") and b"script-src" not in policy
    assert b"object-src 'none'" in policy and b"base-uri 'none'" in policy
