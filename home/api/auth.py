"""Who may call the API: the optional read tokens of /fetch/ and /metrics, and API keys for
/api/.

The guards are `async` so that Litestar runs them on the event loop, not in a thread per
request.
"""

from __future__ import annotations

import hmac
import math
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
)
from litestar.handlers.base import BaseRouteHandler
from piccolo_api.session_auth.tables import SessionsBase

from home.api import clock
from home.roster.api_keys import SCOPE_TEXT, authenticate, is_known, note_use
from home.roster.timefmt import format_rfc3339
from home.storage import Storage
from home.web.http import client_network

CHALLENGE = {"www-authenticate": 'Bearer realm="roster"'}
WINDOW_SECONDS = 60


class KeyFailures:
    """Unknown API keys per client network (IPv6 by /64) and minute, counted by each worker.

    Each unknown key costs a database lookup: past `limit` in a minute, a network's keys that
    would need one are answered 429 until the minute ends. Keys looked up lately (its callers'
    own) still pass. Counted in the worker's memory, because counting in the database would
    cost the query it saves; so with N workers a network gets at most N x `limit` lookups.
    """

    MAX_NETWORKS = 100_000  # within a minute; beyond it, the rest count together

    def __init__(self, limit: int):
        self.limit = limit
        self._minute = -1
        self._counts: dict[str, int] = {}

    def _now(self, now: float) -> dict[str, int]:
        minute = int(now // WINDOW_SECONDS)
        if minute != self._minute:
            self._minute, self._counts = minute, {}
        return self._counts

    def _network(self, address: str, counts: dict[str, int]) -> str:
        network = client_network(address)
        if network not in counts and len(counts) >= self.MAX_NETWORKS:
            return "*"
        return network

    def retry_after(self, address: str, now: float) -> int | None:
        """Seconds until `address` may present unknown keys again, or None when it may now."""
        counts = self._now(now)
        if counts.get(self._network(address, counts), 0) < self.limit:
            return None
        return max(1, math.ceil((self._minute + 1) * WINDOW_SECONDS - now))

    def count(self, address: str, now: float) -> None:
        """Count one unknown key presented from `address`."""
        counts = self._now(now)
        network = self._network(address, counts)
        counts[network] = counts.get(network, 0) + 1


def _bearer(connection: ASGIConnection) -> str | None:
    """The bearer credential of the request, or None without one."""
    scheme, _, given = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip()


def _require_token(
    connection: ASGIConnection, expected: str | None, what: str, setting: str
) -> None:
    """401 unless the request carries `expected` as its bearer token (none needed when None)."""
    if expected is None:
        return
    given = _bearer(connection)
    if given is None:
        raise NotAuthorizedException(
            detail=f"{what} needs a token: send the header 'Authorization: Bearer <token>'",
            headers=CHALLENGE,
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException(
            detail=f"the bearer token is not valid: check {setting} with the operator",
            headers=CHALLENGE,
        )


async def require_fetch_token(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    """Litestar guard: refuse the request (401) unless it carries FETCH_TOKEN, when set."""
    _require_token(connection, connection.app.state.settings.fetch_token, "this API", "FETCH_TOKEN")


async def require_metrics_token(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    """Litestar guard for /metrics: refuse the request (401) unless it carries METRICS_TOKEN,
    when set."""
    expected = connection.app.state.settings.metrics_token
    _require_token(connection, expected, "/metrics", "METRICS_TOKEN")


def scoped(*scopes: str) -> dict[str, Any]:
    """Route arguments for a handler that needs `scopes` (all of them): the guard reads them
    from `opt`, and OpenAPI shows them (as the security requirement's roles)."""
    return {"opt": {"scopes": scopes}, "security": [{"ApiKey": list(scopes)}]}


async def require_api_key(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Litestar guard: a valid, unrevoked, unexpired API key within its rate limit (else 401 or
    429) that holds the scope the handler needs (else 403).

    The caller is kept in `connection.state.caller` for the handler and the audit trail.
    """
    given = _bearer(connection)
    if given is None:
        raise NotAuthorizedException(
            detail="this API needs an API key: send the header 'Authorization: Bearer <key>' "
            "(operators make keys in the admin or with `piccolo home new_api_key NAME`)",
            headers=CHALLENGE,
        )
    now = clock.seconds(connection)
    failures: KeyFailures = connection.app.state.key_failures
    address = connection.client.host if connection.client else ""
    if not is_known(given) and (wait := failures.retry_after(address, now)) is not None:
        raise TooManyRequestsException(
            detail=f"more than {failures.limit} unknown API keys came from this address this "
            f"minute; retry after {wait} s with a valid key",
            headers={"retry-after": str(wait)},
        )
    caller = await authenticate(given)
    if caller is not None:
        storage: Storage = connection.app.state.storage
        window = int(now // WINDOW_SECONDS)
        count, active = await storage.adapter().count_request(caller.key_id, window)
    if caller is None or not active:
        failures.count(address, now)
        raise NotAuthorizedException(
            detail="the API key is unknown or revoked: ask an operator for a valid key",
            headers=CHALLENGE,
        )
    if caller.expires_at is not None and caller.expires_at.timestamp() <= now:
        raise NotAuthorizedException(
            detail=f"the API key {caller.name!r} expired at "
            f"{format_rfc3339(caller.expires_at)}: ask an operator for a new one",
            headers=CHALLENGE,
        )
    limit = connection.app.state.settings.api_rate_limit
    if count == 1:
        await note_use(caller.key_id)
    if count > limit:
        retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        raise TooManyRequestsException(
            detail=f"this API key made more than {limit} requests this minute; retry after "
            f"{retry_after} s",
            headers={"retry-after": str(retry_after)},
        )
    # A handler that names no scope needs the strictest: a forgotten one refuses, not allows.
    for scope in handler.opt.get("scopes", ("admin",)):
        if scope not in caller.scopes:
            raise PermissionDeniedException(
                detail=f"the API key {caller.name!r} lacks the scope {scope} "
                f"({SCOPE_TEXT[scope]}), which {connection.scope['method']} {connection.url.path}"
                " needs: ask an operator for a key with it"
            )
    connection.state.caller = caller


ADMIN_SESSION_COOKIE = "id"


async def admin_user(connection: ASGIConnection) -> str | None:
    """The username of the request's admin session (Piccolo Admin's cookie), or None."""
    from home.admin.tables import AdminUser

    token = connection.cookies.get(ADMIN_SESSION_COOKIE)
    if not token:
        return None
    user_id = await SessionsBase.get_user_id(token)
    if user_id is None:
        return None
    user = (
        await AdminUser.select(AdminUser.username)
        .where(AdminUser.id == user_id, AdminUser.admin.eq(True), AdminUser.active.eq(True))
        .first()
    )
    return None if user is None else user["username"]


async def require_key_or_admin(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Litestar guard: an API key with the handler's scopes, or an admin session."""
    if _bearer(connection) is not None:
        await require_api_key(connection, handler)
        return
    if await admin_user(connection) is not None:
        return
    raise NotAuthorizedException(
        detail="this needs an API key ('Authorization: Bearer <key>') or an admin login",
        headers=CHALLENGE,
    )


async def require_reader(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Litestar guard for the reports: the same rule as /fetch/ (public unless FETCH_TOKEN is
    set), and API keys and an admin session (the dashboard's) are accepted too."""
    expected = connection.app.state.settings.fetch_token
    if expected is None:
        return
    given = _bearer(connection)
    if given is not None:
        if hmac.compare_digest(given.encode(), expected.encode()):
            return
        if given.startswith("rk_"):
            await require_api_key(connection, handler)
            return
    if await admin_user(connection) is not None:
        return
    raise NotAuthorizedException(
        detail="the reports need a token: send 'Authorization: Bearer <FETCH_TOKEN or API key>',"
        " or log in to the admin",
        headers=CHALLENGE,
    )
