"""The one ASGI wrapper every request passes, outside any route (404s and the admin included).

It applies, in order, the request limits (`limits.py`), the host check (`hosts.py`), then calls
the app and adds the security headers (`security_headers.py`) and the request id to its
answer, and writes the access-log line (`access_log.py`). One wrapper rather than four nested
ones: each layer cost an await per message and a copy of the header list, on every request.

A `shortcut` may answer a request before the app routes it (the API's replay of cached
/fetch/ answers); whatever it answers gets the same limits, headers and log line.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from home.web import access_log, hosts, limits
from home.web.http import send_error
from home.web.security_headers import security_headers

# What the edge tells an observer (the metrics) about each request: method, route template
# (None when no route matched), status and seconds.
Observer = Callable[[str, str | None, int, float], None]


class Answer(Protocol):
    """A complete response a shortcut gives: sent as it is, with the edge's headers added."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    route: str


Shortcut = Callable[[Scope], Awaitable[Any]]  # returns an Answer, or None to let the app answer


def write_stdout(line: bytes) -> None:
    """Write one access-log line to standard output in a single write, so that lines of several
    workers never interleave (each is well under PIPE_BUF)."""
    os.write(1, line)


class Edge:
    """Limits, host check, security headers, request id and access log, for every request."""

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: tuple[str, ...] = (),
        observe: Observer | None = None,
        write: Callable[[bytes], None] = write_stdout,
        shortcut: Shortcut | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.clock = clock
        self.allowed = frozenset(allowed_hosts)
        self.observe = observe
        self.write = write
        self.shortcut = shortcut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        request = access_log.RequestHeaders(scope)
        request_id = access_log.request_id(request.request_id)
        status = 0
        sent = 0
        route = None
        scheme = scope.get("scheme", "http")

        async def edge_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers += security_headers(scheme, headers)
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            refusal = limits.refusal(scope, request.size, request.content_length)
            if refusal is None and self.allowed:
                refusal = hosts.refusal(scope, request.host, self.allowed)
            if refusal is not None:
                await send_error(edge_send, *refusal)
            elif request.content_length == 0 and not request.chunked:  # no body to count
                answer = None if self.shortcut is None else await self.shortcut(scope)
                if answer is None:
                    await self.app(scope, receive, edge_send)
                else:
                    route = answer.route
                    await edge_send(
                        {"type": "http.response.start", "status": answer.status,
                         "headers": answer.headers}
                    )  # fmt: skip
                    await edge_send({"type": "http.response.body", "body": answer.body})
            else:
                await limits.call_with_body_limit(self.app, scope, receive, edge_send)
        except BaseException:
            status = status or 500
            raise
        finally:
            seconds = self.clock() - started
            if self.observe is not None:
                # Litestar's router notes the matched route's template in the scope.
                route = route or scope.get("path_template")
                self.observe(scope["method"], route, status or 499, seconds)
            self.write(access_log.line(scope, request, request_id, status, sent, seconds))
