"""HTTP endpoints of the roster API."""

from __future__ import annotations

from litestar import Controller, get

from home.auth import require_fetch_token
from home.roster import load_members
from home.schemas import FetchResponse


class FetchController(Controller):
    """`GET /fetch/`: every member with their activity periods."""

    path = "/fetch"
    tags = ["roster"]
    guards = [require_fetch_token]

    @get("/", summary="Members with their activity periods")
    async def list_members(self) -> FetchResponse:
        """All members ordered by name then id, each with periods ordered by start time (UTC)."""
        return FetchResponse(ok=True, members=await load_members())
