"""The admin over HTTP: the app is served, login works with CSRF, the table API needs a session."""

from __future__ import annotations

import pytest

from tests.factories import make_member
from tests.support.admin import PASSWORD, AdminSession, create_admin_user


async def make_admin(username: str = "operator", admin: bool = True) -> None:
    """An active user who may (or may not) use the admin."""
    await create_admin_user(username, admin=admin)


async def login(client, username: str = "operator", password: str = PASSWORD):
    """Log in the way the admin's front end does, CSRF token included."""
    admin = await AdminSession(client).open()
    assert admin.csrf, "the admin set no csrftoken cookie"
    return await admin.login(username, password)


async def test_admin_without_slash_redirects(client):
    response = await client.get("/admin")
    assert response.status_code in (301, 307, 308)
    assert response.headers["location"] == "/admin/"


async def test_admin_serves_the_app(client):
    response = await client.get("/admin/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert '<div id="app">' in response.text or "id=app" in response.text


async def test_admin_login_with_created_user_works(client):
    await make_admin()
    response = await login(client)
    assert response.status_code == 200, response.text
    assert client.cookies.get("id"), "no session cookie after login"
    user = await client.get("/admin/api/user/")
    assert user.status_code == 200
    assert user.json()["username"] == "operator"


async def test_admin_login_with_wrong_password_is_refused(client):
    await make_admin()
    response = await login(client, password="wrong-password")
    assert response.status_code == 401
    assert not client.cookies.get("id")


async def test_admin_login_without_csrf_token_is_refused(client):
    await make_admin()
    await client.get("/admin/")
    response = await client.post(
        "/admin/public/login/", json={"username": "operator", "password": PASSWORD}
    )
    assert response.status_code == 403


async def test_admin_table_api_lists_members(client):
    await make_admin()
    await make_member("LISTED", "Asia/Kolkata")
    assert (await login(client)).status_code == 200
    response = await client.get("/admin/api/tables/member/")
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert [(row["real_name"], row["tz"]) for row in rows] == [("LISTED", "Asia/Kolkata")]


@pytest.mark.parametrize(
    "path", ["/admin/api/tables/member/", "/admin/api/tables/activity_period/"]
)
async def test_admin_table_api_refuses_requests_without_session(client, path):
    await make_member()
    response = await client.get(path)
    assert response.status_code == 401


async def test_non_admin_user_cannot_use_the_admin_api(client):
    await make_admin("visitor", admin=False)
    await login(client, username="visitor")
    assert (await client.get("/admin/api/tables/member/")).status_code in (401, 403)
