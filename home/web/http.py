"""HTTP helpers shared by the wrappers, the API and the admin mount."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from litestar import Response
from litestar.response.base import ASGIResponse
from litestar.types import Scope, Send


def client_network(address: str) -> str:
    """A client address as limits count it: IPv4 as is, IPv6 by its /64 (one subscriber's,
    who may use any address in it), an IPv4-mapped IPv6 address as its IPv4 address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def header(scope: Scope, name: bytes) -> bytes:
    """The first value of request header `name` (lower-case), or b""."""
    return next((value for key, value in scope["headers"] if key == name), b"")


async def send_json(
    send: Send,
    status: int,
    document: object,
    *,
    close: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a complete JSON response straight from ASGI, before any framework runs."""
    body = json.dumps(document).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, status: int, error: str) -> None:
    """Send a complete `{"ok": false, "error": ...}` response, closing the connection."""
    await send_json(send, status, {"ok": False, "error": error}, close=True)


class HeadResponse(Response[None]):
    """A HEAD answer with exactly its headers: no Content-Type or Content-Length added.

    Litestar's own response would state `Content-Length: 0`, which is wrong for HEAD.
    """

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        kwargs["is_head_response"] = True
        return super().to_asgi_response(*args, **kwargs)


def head_response(status_code: int, headers: dict[str, str]) -> Response[None]:
    """A HEAD answer with exactly `headers` (so no Content-Length unless given)."""
    return HeadResponse(b"", status_code=status_code, headers=headers)
