"""Security headers on every response, the admin's included."""

from __future__ import annotations

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
