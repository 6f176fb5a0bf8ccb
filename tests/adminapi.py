"""Driving Piccolo Admin's HTTP API the way its browser front end does."""

from __future__ import annotations

import httpx


class AdminAPI:
    """A logged-in (or not) admin client: CSRF cookie and header, session cookie."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str] | None = None) -> None:
        self.http = http
        self.headers = dict(headers or {})
        self.csrf = ""

    async def open(self) -> AdminAPI:
        """Load the admin page, which sets the CSRF cookie."""
        response = await self.http.get("/admin/", headers=self.headers)
        assert response.status_code == 200, response.text
        self.csrf = response.cookies.get("csrftoken") or self.http.cookies["csrftoken"]
        return self

    def write_headers(self) -> dict[str, str]:
        """Headers for a write: the CSRF token echoed from its cookie."""
        return {**self.headers, "x-csrftoken": self.csrf}

    async def login(self, username: str, password: str) -> httpx.Response:
        """POST the login form as JSON."""
        return await self.http.post(
            "/admin/public/login/",
            json={"username": username, "password": password},
            headers=self.write_headers(),
        )

    async def logout(self) -> httpx.Response:
        """POST the logout."""
        return await self.http.post("/admin/public/logout/", headers=self.write_headers())

    async def add_member(self, real_name: str, tz: str = "UTC") -> httpx.Response:
        """Create a member through the admin's table API."""
        return await self.http.post(
            "/admin/api/tables/member/",
            json={"real_name": real_name, "tz": tz},
            headers=self.write_headers(),
        )
