"""Request size limits: oversized requests get a 4xx in the API's shape before any handler runs."""

from __future__ import annotations

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from home.web.http import send_error

MAX_URL_BYTES = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_BODY_BYTES = 1024 * 1024


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


class RequestLimits:
    """ASGI wrapper refusing long URLs (414), large headers (431) and large bodies (413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope["query_string"]
        )
        if url_bytes > MAX_URL_BYTES:
            await send_error(
                send, 414, f"the URL is {url_bytes:,} bytes long; the limit is {MAX_URL_BYTES:,}"
            )
            return
        header_bytes = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if header_bytes > MAX_HEADER_BYTES:
            await send_error(
                send,
                431,
                f"the headers are {header_bytes:,} bytes; the limit is {MAX_HEADER_BYTES:,}",
            )
            return
        declared = _declared_length(scope)
        if declared is not None and declared < 0:
            await send_error(send, 400, "Content-Length must be a whole number of bytes")
            return
        if declared is not None and declared > MAX_BODY_BYTES:
            await send_error(send, 413, _too_large(declared))
            return
        await self._call_with_body_limit(scope, receive, send)

    async def _call_with_body_limit(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A chunked body declares no length: count it, and if it grows too large, tell the
        # app the client went away and answer 413 in its place.
        received = 0
        too_large = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
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
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await send_error(send, 413, _too_large(received))


def _too_large(size: int) -> str:
    return f"the request body is over {size:,} bytes; the limit is {MAX_BODY_BYTES:,}"
