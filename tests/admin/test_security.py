"""The admin's security: sessions, who may log in, CSRF, secure cookies (the login throttle:
test_login_throttle.py)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.tables import SessionsBase

from home.admin.site import build_admin
from home.storage import Storage
from tests.conftest import TEST_SETTINGS
from tests.support.admin import PASSWORD, AdminSession, create_admin_user, logged_in

# Piccolo warns on every login outside production (HTTP in tests): expected here.
pytestmark = pytest.mark.filterwarnings("ignore:If running sessions in production:UserWarning")

TABLES = ["member", "activity_period"]


@pytest.mark.parametrize("table", TABLES)
async def test_admin_api_refuses_reads_and_writes_without_a_session(client, table):
    admin = await AdminSession(client).open()
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
    user = await create_admin_user("bob", admin=admin_flag)
    await BaseUser.update({BaseUser.active: active}).where(BaseUser.id == user.id)
    admin = await AdminSession(client).open()
    response = await admin.login("bob")
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
    assert (await admin.login("bob")).status_code == 200
    assert (await client.get("/admin/api/user/")).json()["username"] == "bob"


async def test_admin_accepts_its_admin_and_writes_with_the_csrf_token(client):
    admin = await logged_in(client, "alice")
    assert (await client.get("/admin/api/user/")).json()["username"] == "alice"
    assert (await admin.add_member("CAROL")).status_code == 201


async def test_admin_write_without_csrf_token_is_refused(client, db):
    admin = await logged_in(client, "alice")
    response = await client.post("/admin/api/tables/member/", json={"real_name": "X", "tz": "UTC"})
    assert response.status_code == 403
    wrong = {"x-csrftoken": "not-the-cookie"}
    response = await client.post(
        "/admin/api/tables/member/", json={"real_name": "X"}, headers=wrong
    )
    assert response.status_code == 403
    assert (await client.get("/admin/api/tables/member/")).json()["rows"] == []
    assert admin.csrf


async def test_session_lasts_the_configured_expiry(client):
    await logged_in(client, "alice")
    session = await SessionsBase.objects().first()
    remaining = session.expiry_date - datetime.now()
    assert (
        TEST_SETTINGS.session_expiry - timedelta(minutes=1)
        < remaining
        <= TEST_SETTINGS.session_expiry
    )
    assert session.max_expiry_date - datetime.now() <= TEST_SETTINGS.session_max_expiry


async def test_expired_session_is_refused(client):
    await logged_in(client, "alice")
    assert (await client.get("/admin/api/user/")).status_code == 200
    past = datetime.now() - timedelta(seconds=1)
    await SessionsBase.update({SessionsBase.expiry_date: past}).where(SessionsBase.id > 0)
    assert (await client.get("/admin/api/user/")).status_code == 401


async def test_logout_ends_the_session_on_the_server(client):
    admin = await logged_in(client, "alice")
    token = client.cookies["id"]
    assert (await admin.logout()).status_code == 200
    assert await SessionsBase.count() == 0
    # Replaying the old cookie does not bring the session back.
    client.cookies.set("id", token)
    assert (await client.get("/admin/api/user/")).status_code == 401


async def test_production_admin_sets_a_secure_session_cookie(db):
    production = dataclasses.replace(
        TEST_SETTINGS, environment="production", allowed_hosts=("testserver",)
    )
    admin_app = build_admin(production, Storage(production))
    await create_admin_user("alice")
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
