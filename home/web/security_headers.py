"""Security headers on every response, the admin's included."""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    # same-origin keeps Origin on the admin's own POSTs, which its CSRF check needs on HTTPS.
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# Pages (the admin, the API docs) load their own scripts and styles; data loads nothing at all.
CSP_HTML = (b"content-security-policy", b"frame-ancestors 'none'")
CSP_DATA = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


def security_headers(scheme: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers to add to a response with `headers`, leaving any already set alone."""
    present = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    wanted = [*COMMON, CSP_HTML if content_type.startswith(b"text/html") else CSP_DATA]
    if scheme == "https":
        wanted.append(HSTS)
    return [(name, value) for name, value in wanted if name not in present]


class SecurityHeaders:
    """ASGI wrapper adding the security headers (HSTS only when the request came over HTTPS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scheme = scope.get("scheme", "http")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(security_headers(scheme, headers))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
