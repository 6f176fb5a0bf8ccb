"""An operator in Piccolo Admin over HTTP, calling it the way its browser front end does."""

from __future__ import annotations

from typing import Any

import httpx
from piccolo.apps.user.tables import BaseUser

USERNAME = "operator"
PASSWORD = "operator-password-1"


async def create_admin_user(
    username: str = USERNAME,
    password: str = PASSWORD,
    *,
    admin: bool = True,
    active: bool = True,
    read_only: bool = False,
) -> BaseUser:
    """Save a user who may (with `admin`) use the admin: a superuser, or read-only staff."""
    return await BaseUser.create_user(
        username=username,
        password=password,
        email=f"{username}@example.com",
        admin=admin,
        active=active,
        superuser=admin and not read_only,
    )


class AdminSession:
    """A browser's view of the admin: the CSRF cookie echoed in a header, the session cookie.

    `headers` go with every request (e.g. an `origin` for a server's CSRF check).
    """

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.http = http
        self.headers = dict(headers or {})
        self.csrf = ""

    async def open(self) -> AdminSession:
        """Load the admin page, which sets the CSRF cookie."""
        response = await self.http.get("/admin/", headers=self.headers)
        assert response.status_code == 200, response.text
        self.csrf = response.cookies.get("csrftoken") or self.http.cookies["csrftoken"]
        return self

    def write_headers(self) -> dict[str, str]:
        """Headers for a write: the CSRF token echoed from its cookie."""
        return {**self.headers, "x-csrftoken": self.csrf}

    async def login(self, username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
        """POST the login form as JSON."""
        return await self.send(
            "POST", "/public/login/", {"username": username, "password": password}
        )

    async def logout(self) -> httpx.Response:
        """POST the logout."""
        return await self.send("POST", "/public/logout/")

    async def send(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """A request to `/admin{path}` with a JSON body, as the admin's UI writes."""
        return await self.http.request(
            method, f"/admin{path}", json=body, headers=self.write_headers()
        )

    async def get(self, path: str, **params: Any) -> httpx.Response:
        """GET `/admin/api{path}` (the table API)."""
        return await self.http.get(f"/admin/api{path}", params=params, headers=self.headers)

    async def add_member(self, real_name: str, tz: str = "UTC") -> httpx.Response:
        """Create a member through the admin's table API."""
        return await self.send("POST", "/api/tables/member/", {"real_name": real_name, "tz": tz})


async def logged_in(
    http: httpx.AsyncClient,
    username: str = USERNAME,
    headers: dict[str, str] | None = None,
    read_only: bool = False,
) -> AdminSession:
    """A new admin user (a superuser, or read-only staff) and a session logged in as them."""
    await create_admin_user(username, read_only=read_only)
    session = await AdminSession(http, headers).open()
    response = await session.login(username)
    assert response.status_code in (200, 303), response.text
    return session
