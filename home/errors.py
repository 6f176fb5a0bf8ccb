"""One JSON error shape for the whole API: `{"ok": false, "error": "..."}`."""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

logger = logging.getLogger("roster.errors")


def _message(exc: HTTPException) -> str:
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        parts = []
        for item in exc.extra:
            if isinstance(item, dict):
                key = item.get("key")
                message = item.get("message", "")
                parts.append(f"{key}: {message}" if key else str(message))
        if parts:
            return "; ".join(parts)
    return exc.detail


def http_error(_request: Request, exc: HTTPException) -> Response:
    """Render any HTTP error in the API's shape, keeping its status and headers."""
    return Response(
        {"ok": False, "error": _message(exc)},
        status_code=exc.status_code,
        headers=exc.headers,
    )


def unexpected_error(request: Request, exc: Exception) -> Response:
    """Log the failure with its trace; tell the client only that it happened."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        {"ok": False, "error": "internal server error; the failure was logged"},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


EXCEPTION_HANDLERS = {HTTPException: http_error, Exception: unexpected_error}
