"""Optional read token for the API: with FETCH_TOKEN set, /fetch/ needs `Authorization: Bearer`."""

from __future__ import annotations

import hmac

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

CHALLENGE = {"www-authenticate": 'Bearer realm="roster"'}


async def require_fetch_token(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    """Litestar guard: refuse the request (401) unless it carries the configured bearer token.

    `async` so that Litestar runs it on the event loop, not in a thread per request.
    """
    expected = connection.app.state.settings.fetch_token
    if expected is None:
        return
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise NotAuthorizedException(
            detail="this API needs a token: send the header 'Authorization: Bearer <token>'",
            headers=CHALLENGE,
        )
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise NotAuthorizedException(
            detail="the bearer token is not valid: check FETCH_TOKEN with the operator",
            headers=CHALLENGE,
        )
