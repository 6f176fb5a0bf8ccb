"""One JSON error shape for the whole API: `{"ok": false, "error": "..."}`."""

from __future__ import annotations

import logging
import time

from litestar import Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from starlette.requests import ClientDisconnect

from home.server import metrics
from home.storage import is_unavailable

logger = logging.getLogger("roster.errors")

# Seconds a client should wait before retrying while the database is unavailable.
RETRY_AFTER = 5

# During an outage every request fails alike: say why in the log at most this often.
LOG_EVERY_SECONDS = 10.0
_last_logged: dict[str, float] = {}
_unlogged: dict[str, int] = {}


def log_unavailable(exc: BaseException, where: str = "") -> None:
    """Count a 503 answered because the database is unavailable, and log (as an error, for
    alerts) why: once per LOG_EVERY_SECONDS for each kind of error, with how many were not
    logged since."""
    kind = type(exc).__name__
    metrics.database_unavailable(kind)
    now = time.monotonic()
    _unlogged[kind] = _unlogged.get(kind, 0) + 1
    if now - _last_logged.get(kind, -LOG_EVERY_SECONDS) >= LOG_EVERY_SECONDS:
        _last_logged[kind] = now
        count = _unlogged.pop(kind)
        logger.error(
            "answering 503%s: the database is unavailable (%s: %s); %d such answer(s) since "
            "the last line",
            f" on {where}" if where else "",
            kind,
            exc,
            count,
        )


def database_unavailable_response(exc: BaseException, where: str = "") -> Response:
    """503 in the API's shape, without internals: the database cannot answer right now."""
    log_unavailable(exc, where)
    return Response(
        {"ok": False, "error": "the database is unavailable; retry shortly"},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        headers={"retry-after": str(RETRY_AFTER)},
    )


def _message(request: Request, exc: HTTPException) -> str:
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        parts = []
        for item in exc.extra:
            if isinstance(item, dict):
                key = item.get("key")
                if key == "data":
                    key = "the JSON body"
                elif item.get("source") == "header" and isinstance(key, str):
                    key = f"the header {key.replace('_', '-').title()}"
                message = item.get("message", "")
                parts.append(f"{key}: {message}" if key else str(message))
        if parts:
            return "; ".join(parts)
    if isinstance(exc.__cause__, SerializationException):
        return f"the body is not valid JSON ({exc.detail}); send one JSON object"
    if exc.status_code == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        if limit:
            return f"the request body is larger than {limit:,} bytes, this endpoint's limit"
    return exc.detail


def http_error(request: Request, exc: HTTPException) -> Response:
    """Render any HTTP error in the API's shape, keeping its status and headers."""
    return Response(
        {"ok": False, "error": _message(request, exc)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def unexpected_error(request: Request, exc: Exception) -> Response:
    """Log the failure with its trace; tell the client only that it happened."""
    if isinstance(exc, ClientDisconnect):
        # The client left mid-body, or home.limits cut an oversized body short: not our failure.
        logger.info("client stopped sending on %s %s", request.method, request.url.path)
        return Response(
            {"ok": False, "error": "incomplete request body"}, status_code=HTTP_400_BAD_REQUEST
        )
    if is_unavailable(exc):
        return database_unavailable_response(exc, f"{request.method} {request.url.path}")
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        {"ok": False, "error": "internal server error; the failure was logged"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS = {HTTPException: http_error, Exception: unexpected_error}
