"""A client system: the program where members log in, calling /api/ with its API key."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from home.roster.api_keys import SCOPES, create_api_key

_names = (f"system-{number}" for number in itertools.count())


class ClientSystem:
    """An HTTP client that sends `Authorization: Bearer <key>` on every request."""

    def __init__(self, http: httpx.AsyncClient, key: str, name: str) -> None:
        self.http = http
        self.key = key
        self.name = name

    @classmethod
    async def register(
        cls,
        http: httpx.AsyncClient,
        adapter: Any,
        name: str | None = None,
        scopes: object = SCOPES,
        members: object = None,
    ):
        """Make an API key (as an operator would; every scope unless told) and a client using
        it."""
        name = name or next(_names)
        made = await create_api_key(
            adapter, name, actor="test operator", scopes=scopes, members=members
        )
        return cls(http, made.key, name)

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        """The key, and an Idempotency-Key when given."""
        headers = {"authorization": f"Bearer {self.key}"}
        if idempotency_key is not None:
            headers["idempotency-key"] = idempotency_key
        return headers

    async def post(
        self, path: str, body: Any = None, idempotency_key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """POST JSON (or, with `content=`, raw bytes) to `/api{path}`."""
        if body is not None:
            kwargs["json"] = body
        return await self.http.post(f"/api{path}", headers=self.headers(idempotency_key), **kwargs)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        """GET `/api{path}`."""
        return await self.http.get(f"/api{path}", headers=self.headers(), params=params)

    async def add_member(self, real_name: str = "Ada Lovelace", tz: str = "UTC") -> str:
        """A new member's id."""
        response = await self.post("/members", {"real_name": real_name, "tz": tz})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def start(self, member_id: str, at: str | None = None, **kwargs: Any):
        """POST .../sessions/start."""
        body = {} if at is None else {"at": at}
        return await self.post(f"/members/{member_id}/sessions/start", body, **kwargs)

    async def stop(self, member_id: str, at: str | None = None, **kwargs: Any):
        """POST .../sessions/stop."""
        body = {} if at is None else {"at": at}
        return await self.post(f"/members/{member_id}/sessions/stop", body, **kwargs)

    async def add_period(self, member_id: str, start: str, end: str, **kwargs: Any):
        """POST .../periods."""
        return await self.post(
            f"/members/{member_id}/periods", {"start_time": start, "end_time": end}, **kwargs
        )
