"""Security: the admin's sessions, login limits and CSRF; headers; the optional read token."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import datetime, timedelta

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.tables import SessionsBase

import home.settings
from home.admin import build_admin
from home.hosts import AllowedHosts
from home.settings import settings
from tests.adminapi import AdminAPI

# Piccolo warns on every login outside production (HTTP in tests): expected here.
pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")

PASSWORD = "a-long-test-password"
TABLES = ["member", "activity_period"]


async def make_user(username: str = "alice", admin: bool = True) -> BaseUser:
    """Save a user who may (or may not) use the admin."""
    return await BaseUser.create_user(
        username=username, password=PASSWORD, admin=admin, active=True, email=f"{username}@x.test"
    )


async def logged_in(client) -> AdminAPI:
    """An admin client with a fresh session."""
    await make_user()
    admin = await AdminAPI(client).open()
    response = await admin.login("alice", PASSWORD)
    assert response.status_code == 200, response.text
    return admin


@pytest.mark.parametrize("table", TABLES)
async def test_admin_api_refuses_reads_and_writes_without_a_session(client, table):
    admin = await AdminAPI(client).open()
    assert (await client.get(f"/admin/api/tables/{table}/")).status_code == 401
    assert (await client.get(f"/admin/api/tables/{table}/1/")).status_code == 401
    written = await client.post(
        f"/admin/api/tables/{table}/", json={}, headers=admin.write_headers()
    )
    assert written.status_code == 401
    changed = await client.patch(
        f"/admin/api/tables/{table}/1/", json={}, headers=admin.write_headers()
    )
    assert changed.status_code == 401
    removed = await client.delete(f"/admin/api/tables/{table}/1/", headers=admin.write_headers())
    assert removed.status_code == 401


@pytest.mark.parametrize(
    ("admin_flag", "active"), [(False, True), (True, False)], ids=["not-admin", "inactive"]
)
async def test_login_refuses_a_user_who_may_not_use_the_admin(client, admin_flag, active):
    user = await make_user("bob", admin=admin_flag)
    await BaseUser.update({BaseUser.active: active}).where(BaseUser.id == user.id)
    admin = await AdminAPI(client).open()
    response = await admin.login("bob", PASSWORD)
    # The same answer as a wrong password, and no session on the server.
    assert response.status_code == 401
    assert response.json() == (await admin.login("bob", "not-the-password")).json()
    assert await SessionsBase.count() == 0
    assert (await client.get("/admin/api/user/")).status_code == 401
    assert (await client.get("/admin/api/tables/member/")).status_code == 401
    assert (await admin.add_member("BOBSMEMBER")).status_code == 401
    # Given the admin flag, the same account logs in.
    await BaseUser.update({BaseUser.admin: True, BaseUser.active: True}).where(
        BaseUser.id == user.id
    )
    assert (await admin.login("bob", PASSWORD)).status_code == 200
    assert (await client.get("/admin/api/user/")).json()["username"] == "bob"


async def test_admin_accepts_its_admin_and_writes_with_the_csrf_token(client):
    admin = await logged_in(client)
    assert (await client.get("/admin/api/user/")).json()["username"] == "alice"
    assert (await admin.add_member("CAROL")).status_code == 201


async def test_admin_write_without_csrf_token_is_refused(client, db):
    admin = await logged_in(client)
    response = await client.post("/admin/api/tables/member/", json={"real_name": "X", "tz": "UTC"})
    assert response.status_code == 403
    wrong = {"x-csrftoken": "not-the-cookie"}
    response = await client.post(
        "/admin/api/tables/member/", json={"real_name": "X"}, headers=wrong
    )
    assert response.status_code == 403
    assert (await client.get("/admin/api/tables/member/")).json()["rows"] == []
    assert admin.csrf


async def test_login_is_rate_limited_per_client_address(client):
    admin = await AdminAPI(client).open()
    statuses = [
        (await admin.login("nobody", "")).status_code for _ in range(settings.login_rate_limit)
    ]
    assert set(statuses) == {422}
    blocked = await admin.login("nobody", "")
    assert blocked.status_code == 429
    # Another address is not affected.
    other = httpx.ASGITransport(app=client._transport.app, client=("198.51.100.7", 1))
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as second:
        fresh = await AdminAPI(second).open()
        assert (await fresh.login("nobody", "")).status_code == 422


async def test_session_lasts_the_configured_expiry(client):
    await logged_in(client)
    session = await SessionsBase.objects().first()
    remaining = session.expiry_date - datetime.now()
    assert settings.session_expiry - timedelta(minutes=1) < remaining <= settings.session_expiry
    assert session.max_expiry_date - datetime.now() <= settings.session_max_expiry


async def test_expired_session_is_refused(client):
    await logged_in(client)
    assert (await client.get("/admin/api/user/")).status_code == 200
    past = datetime.now() - timedelta(seconds=1)
    await SessionsBase.update({SessionsBase.expiry_date: past}).where(SessionsBase.id > 0)
    assert (await client.get("/admin/api/user/")).status_code == 401


async def test_logout_ends_the_session_on_the_server(client):
    admin = await logged_in(client)
    token = client.cookies["id"]
    assert (await admin.logout()).status_code == 200
    assert await SessionsBase.count() == 0
    # Replaying the old cookie does not bring the session back.
    client.cookies.set("id", token)
    assert (await client.get("/admin/api/user/")).status_code == 401


async def test_production_admin_sets_a_secure_session_cookie(db):
    production = dataclasses.replace(
        settings, environment="production", allowed_hosts=("testserver",)
    )
    admin_app = build_admin(production)
    await make_user()
    transport = httpx.ASGITransport(app=admin_app, client=("203.0.113.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        csrf = (await http.get("/")).cookies["csrftoken"]
        headers = {"x-csrftoken": csrf, "origin": "https://testserver"}
        login = await http.post(
            "/public/login/", json={"username": "alice", "password": PASSWORD}, headers=headers
        )
        assert login.status_code == 200, login.text
        cookie = login.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        # On HTTPS the CSRF check also wants our own host in Origin/Referer.
        foreign = {"x-csrftoken": csrf, "origin": "https://evil.example"}
        refused = await http.post("/public/logout/", headers=foreign)
        assert refused.status_code == 403


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


@pytest.fixture
def fetch_token(monkeypatch):
    """FETCH_TOKEN set, as if read from the environment."""
    token = "s3cret-token-for-tests"
    monkeypatch.setattr(home.settings, "settings", dataclasses.replace(settings, fetch_token=token))
    return token


async def test_fetch_is_public_without_a_token_configured(client):
    assert (await client.get("/fetch/")).status_code == 200


async def test_fetch_token_is_required_when_configured(client, fetch_token):
    missing = await client.get("/fetch/")
    assert missing.status_code == 401
    assert missing.json()["ok"] is False and "Authorization: Bearer" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.get("/fetch/", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["ok"] is False
    basic = await client.get("/fetch/", headers={"authorization": f"Basic {fetch_token}"})
    assert basic.status_code == 401
    right = await client.get("/fetch/", headers={"authorization": f"Bearer {fetch_token}"})
    assert right.status_code == 200 and right.json()["ok"] is True


async def test_health_stays_open_when_a_token_is_configured(client, fetch_token):
    assert (await client.get("/health/live")).status_code == 200


async def test_access_log_has_one_json_line_with_the_real_admin_path(client, caplog):
    caplog.set_level(logging.INFO, logger="roster.access")
    await client.get("/admin/api/tables/member/?__page=2", headers={"x-request-id": "req-42"})
    [record] = [r for r in caplog.records if r.name == "roster.access"]
    line = json.loads(record.getMessage())
    assert "\n" not in record.getMessage()
    assert line["method"] == "GET"
    assert line["path"] == "/admin/api/tables/member/"
    assert line["query"] == "__page=2"
    assert line["status"] == 401
    assert line["request_id"] == "req-42"
    assert line["ms"] >= 0 and line["bytes"] > 0


async def test_access_log_covers_requests_no_route_matches(client, caplog):
    caplog.set_level(logging.INFO, logger="roster.access")
    response = await client.delete("/fetch/")
    assert response.status_code == 405 and response.json()["ok"] is False
    [record] = [r for r in caplog.records if r.name == "roster.access"]
    assert json.loads(record.getMessage())["status"] == 405
    assert response.headers["x-request-id"] == json.loads(record.getMessage())["request_id"]


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
    app = AllowedHosts(plain_ok, ("roster.example.com",))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
        response = await http.get(path, headers={"host": host})
    assert response.status_code == status
    if status == 400:
        assert response.json()["ok"] is False and "ALLOWED_HOSTS" in response.json()["error"]
