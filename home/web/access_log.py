"""One structured (JSON) access-log line per request, with the path the client asked for."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from home.web.http import header

logger = logging.getLogger("roster.access")

# Keep each line well under PIPE_BUF (4096 bytes) so lines from several workers never interleave.
MAX_FIELD = 512
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _text(raw: bytes | str) -> str:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD] + "..."


# What AccessLog tells an observer about each request: method, route template (None when no
# route matched), status and seconds.
Observer = Callable[[str, str | None, int, float], None]


class AccessLog:
    """ASGI wrapper: logs method, real path, status, bytes, duration, client and request id;
    and hands method, route, status and duration to `observe` (the metrics), when given."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Routing rewrites scope["path"] (the admin mount sees "/"): keep what the client sent.
        path = scope.get("raw_path") or scope["path"].encode()
        given_id = header(scope, b"x-request-id").decode("latin-1")
        request_id = given_id if REQUEST_ID.match(given_id) else uuid.uuid4().hex
        status = 0
        sent = 0

        async def logged_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            seconds = time.perf_counter() - started
            if self.observe is not None:
                # Litestar's router notes the matched route's template in the scope.
                self.observe(scope["method"], scope.get("path_template"), status or 499, seconds)
            client = scope.get("client")
            record = {
                "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "pid": os.getpid(),
                "request_id": request_id,
                "client": client[0] if client else None,
                "scheme": scope.get("scheme", "http"),
                "method": scope["method"],
                "path": _text(path),
                "query": _text(scope["query_string"]),
                "status": status or 499,  # 499: the client left before any response
                "bytes": sent,
                "ms": round(seconds * 1000, 2),
                "user_agent": _text(header(scope, b"user-agent")),
            }
            logger.info(json.dumps(record, ensure_ascii=True))
