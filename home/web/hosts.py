"""Host header check: in production only the configured host names are served."""

from __future__ import annotations

from litestar.types import Scope

# Probes and Prometheus reach the health checks and /metrics by address, not by the public
# host name.
EXEMPT_PREFIXES = ("/health/", "/metrics")


def hostname(host_header: bytes) -> str:
    """The host name of a Host header, lowercased, without port (IPv6 brackets kept)."""
    host = host_header.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(scope: Scope, host: bytes, allowed: frozenset[str]) -> tuple[int, str] | None:
    """400 and its message for a Host not in `allowed` (probes' paths are exempt), or None."""
    if scope["path"].startswith(EXEMPT_PREFIXES) or hostname(host) in allowed:
        return None
    return (
        400,
        f"host {host.decode('latin-1')[:100]!r} is not served here; "
        "use one of the names in ALLOWED_HOSTS",
    )
