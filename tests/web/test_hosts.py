"""The host check: in production only the configured host names are served."""

from __future__ import annotations

import httpx
import pytest

from home.web.edge import Edge


async def plain_ok(scope, receive, send):
    """A stand-in app that answers 200."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(
    ("host", "path", "status"),
    [
        ("roster.example.com", "/fetch/", 200),
        ("ROSTER.example.com:8443", "/fetch/", 200),
        ("evil.example", "/fetch/", 400),
        ("roster.example.com.evil.example", "/admin/", 400),
        ("10.0.0.7:8000", "/health/ready", 200),
    ],
)
async def test_only_allowed_hosts_are_served(host, path, status):
    app = Edge(plain_ok, ("roster.example.com",), write=lambda _line: None)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        response = await http.get(path, headers={"host": host})
    assert response.status_code == status
    if status == 400:
        assert response.json()["ok"] is False and "ALLOWED_HOSTS" in response.json()["error"]
