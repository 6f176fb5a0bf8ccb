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
# Pages load only this origin's scripts, styles, images and fonts, and post only to it: an
# injected <script>, inline handler or style, or a foreign host, is refused by the browser.
# The dashboard gets this; the admin a little less (ADMIN_POLICY), the API docs their own
# (api/docs.py). tests/e2e/test_content_policy.py watches both pages for violations.
# Plotly (the dashboard's charts) injects <style> elements for its own rules: inline styles are
# allowed, scripts never.
PAGE_POLICY = (
    b"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Piccolo Admin's bundle compiles some Vue templates at run time (`new Function`) and injects
# <style> elements (Font Awesome's, its components'): it needs 'unsafe-eval' and inline styles,
# but no inline script, so an injected <script> or event handler is still refused.
ADMIN_POLICY = (
    b"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    b"frame-ancestors 'none'"
)
CSP_HTML = (b"content-security-policy", PAGE_POLICY)
CSP_DATA = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")


def security_headers(scheme: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers to add to a response with `headers`, leaving any already set alone."""
    present = {name.lower() for name, _ in headers}
    content_type = next((value for name, value in headers if name.lower() == b"content-type"), b"")
    wanted = [*COMMON, CSP_HTML if content_type.startswith(b"text/html") else CSP_DATA]
    if scheme == "https":
        wanted.append(HSTS)
    return [(name, value) for name, value in wanted if name not in present]
