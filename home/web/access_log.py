"""One structured (JSON) access-log line per request, with the path the client asked for.

The line is encoded by msgspec and written in one call (see `edge.write_stdout`): no logging
record, no `json.dumps`, no queue thread on the hot path.
"""

from __future__ import annotations

import itertools
import os
import re
import time

import msgspec
from litestar.types import Scope

# Keep each line well under PIPE_BUF (4096 bytes) so lines from several workers never interleave.
MAX_FIELD = 512
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_encode = msgspec.json.Encoder().encode
_PID = os.getpid()
# The time written on a line: a second's text is computed once per second.
_second = -1
_second_text = ""


class RequestHeaders:
    """The request headers the edge needs, read in one pass over the list."""

    __slots__ = ("chunked", "content_length", "host", "request_id", "size", "user_agent")

    def __init__(self, scope: Scope) -> None:
        self.host = self.request_id = self.user_agent = b""
        self.content_length: int | None = 0
        self.chunked = False
        size = 0
        declared = None
        for name, value in scope["headers"]:
            size += len(name) + len(value) + 4
            if name == b"host":
                self.host = value
            elif name == b"x-request-id":
                self.request_id = value
            elif name == b"user-agent":
                self.user_agent = value
            elif name == b"content-length" and declared is None:
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
            elif name == b"transfer-encoding":
                self.chunked = True
        self.size = size
        self.content_length = declared if declared is not None else 0


# A new id is this process's random prefix and a counter: unique across workers and hosts
# without reading the system's random source on every request.
_PREFIX = os.urandom(8).hex()
_count = itertools.count(1)


def request_id(given: bytes) -> str:
    """The client's X-Request-ID when it is a sane one, else a new one (32 hex digits)."""
    if given:
        text = given.decode("latin-1")
        if REQUEST_ID.match(text):
            return text
    return f"{_PREFIX}{next(_count):016x}"


def _text(raw: bytes) -> str:
    text = raw.decode("latin-1")
    return text if len(text) <= MAX_FIELD else text[:MAX_FIELD] + "..."


def _timestamp(now: float) -> str:
    global _second, _second_text
    whole = int(now)
    if whole != _second:
        _second, _second_text = whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{_second_text}.{int((now - whole) * 1000):03d}+00:00"


def line(
    scope: Scope,
    request: RequestHeaders,
    request_id: str,
    status: int,
    sent: int,
    seconds: float,
) -> bytes:
    """The JSON access-log line (with its newline) for one request."""
    client = scope.get("client")
    # Routing rewrites scope["path"] (the admin mount sees "/"): log what the client sent.
    path = scope.get("raw_path") or scope["path"].encode()
    return (
        _encode(
            {
                "ts": _timestamp(time.time()),
                "pid": _PID,
                "request_id": request_id,
                "client": client[0] if client else None,
                "scheme": scope.get("scheme", "http"),
                "method": scope["method"],
                "path": _text(path),
                "query": _text(scope["query_string"]),
                "status": status or 499,  # 499: the client left before any response
                "bytes": sent,
                "ms": round(seconds * 1000, 2),
                "user_agent": _text(request.user_agent),
            }
        )
        + b"\n"
    )
