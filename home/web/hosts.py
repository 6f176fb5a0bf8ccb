"""Host header check: in production only the configured host names are served."""

from __future__ import annotations

from litestar.types import ASGIApp, Receive, Scope, Send

from home.web.http import header, send_error

# Probes and Prometheus reach the health checks and /metrics by address, not by the public
# host name.
EXEMPT_PREFIXES = ("/health/", "/metrics")


def hostname(host_header: bytes) -> str:
    """The host name of a Host header, lowercased, without port (IPv6 brackets kept)."""
    host = host_header.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AllowedHosts:
    """ASGI wrapper answering 400 to a request whose Host is not in `allowed`."""

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.allowed or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        host = header(scope, b"host")
        if hostname(host) not in self.allowed:
            await send_error(
                send,
                400,
                f"host {host.decode('latin-1')[:100]!r} is not served here; "
                "use one of the names in ALLOWED_HOSTS",
            )
            return
        await self.app(scope, receive, send)
