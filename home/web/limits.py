"""Request size limits: oversized requests get a 4xx in the API's shape before any handler runs."""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from home.web.http import send_error

MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_BODY_BYTES = 1024 * 1024
# An import's CSV (POST /api/imports) may be a whole tracker's history: 300,000 rows of a
# Toggl export are about 40 MB. Its handler spools the body to a temporary file.
IMPORT_PATH = "/api/imports"
MAX_IMPORT_BYTES = 256 * 1024 * 1024


def body_limit(scope: Scope) -> int:
    """The largest body a request to this path may send."""
    return MAX_IMPORT_BYTES if scope["path"] == IMPORT_PATH else MAX_BODY_BYTES


def refusal(scope: Scope, header_bytes: int, declared: int | None) -> tuple[int, str] | None:
    """The status and message for a request too large to take, or None.

    `header_bytes` is the size of the headers; `declared` the Content-Length (-1 when it is not a
    number, None or 0 without one).
    """
    url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
    if url_bytes > MAX_URL_BYTES:
        return 414, f"the URL is {url_bytes:,} bytes long; the limit is {MAX_URL_BYTES:,}"
    if header_bytes > MAX_HEADER_BYTES:
        return 431, f"the headers are {header_bytes:,} bytes; the limit is {MAX_HEADER_BYTES:,}"
    if declared is not None and declared < 0:
        return 400, "Content-Length must be a whole number of bytes"
    if declared is not None and declared > body_limit(scope):
        return 413, _too_large(declared, body_limit(scope))
    return None


async def call_with_body_limit(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Call `app`, cutting a body that grows over the limit short and answering 413 for it.

    A chunked body declares no length: it is counted, and if it grows too large, the app is
    told the client went away and 413 is answered in its place.
    """
    received = 0
    too_large = False
    started = False
    limit = body_limit(scope)

    async def limited_receive() -> Message:
        nonlocal received, too_large
        if too_large:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                too_large = True
                return {"type": "http.disconnect"}
        return message

    async def guarded_send(message: Message) -> None:
        nonlocal started
        if too_large and not started:
            return
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, limited_receive, guarded_send)
    except Exception:
        if not too_large:
            raise
    if too_large and not started:
        await send_error(send, 413, _too_large(received, limit))


def _too_large(size: int, limit: int) -> str:
    return f"the request body is over {size:,} bytes; the limit is {limit:,}"
