"""The admin mounted into Litestar at /admin/."""

from __future__ import annotations

from litestar import asgi
from litestar.types import Receive, Scope, Send

from home.admin import ADMIN


@asgi("/admin", is_mount=True, copy_scope=True, include_in_schema=False)
async def admin_mount(scope: Scope, receive: Receive, send: Send) -> None:
    """Hand every /admin/... request to the admin built at start-up."""
    if (
        scope["type"] == "http"
        and scope.get("path") in ("", "/")
        and not scope.get("raw_path", b"").endswith(b"/")
    ):
        await _redirect(send, "/admin/")
        return
    await ADMIN(scope, receive, send)


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 308,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
