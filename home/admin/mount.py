"""The admin mounted into Litestar at /admin/."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from urllib.parse import parse_qs

from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from home.admin import staff
from home.admin.body_guard import body_problem
from home.admin.crud import STORAGE_KEY
from home.server import metrics
from home.storage import Storage
from home.storage.login_attempts import LoginThrottle
from home.web.http import header, send_json
from home.web.security_headers import ADMIN_POLICY

logger = logging.getLogger("roster.admin")


def admin_mount(admin: ASGIApp, storage: Storage, throttle: LoginThrottle) -> ASGIRouteHandler:
    """The route handler that mounts `admin` at /admin/; its writes go through `storage`, its
    logins through `throttle`."""

    @asgi("/admin", is_mount=True, copy_scope=True, include_in_schema=False)
    async def mount(scope: Scope, receive: Receive, send: Send) -> None:
        scope[STORAGE_KEY] = storage  # type: ignore[literal-required]
        await guarded(admin, throttle, scope, receive, send)

    return mount


async def guarded(
    admin: ASGIApp, throttle: LoginThrottle, scope: Scope, receive: Receive, send: Send
) -> None:
    """Hand a /admin/... request to the admin, unless it is one the admin would fail on."""
    if (
        scope["type"] == "http"
        and scope.get("path") in ("", "/")
        and not scope.get("raw_path", b"").endswith(b"/")
    ):
        await _redirect(send, "/admin/")
        return
    if scope["type"] == "http" and b"%00" in scope.get("query_string", b""):
        # PostgreSQL refuses NUL in text, and the admin's filters would answer that with a 500.
        await send_json(send, 400, {"detail": "the URL contains a NUL character (%00); remove it"})
        return
    if scope["type"] == "http" and staff.refuses(scope) and await staff.is_read_only(scope):
        await send_json(send, 403, {"detail": staff.READ_ONLY_MESSAGE})
        return
    body = b""
    if scope["type"] == "http" and scope.get("method") in WRITES:
        body, receive = await _buffered(receive)
        if body is None:
            # The client went away, or home.limits cut an oversized body short and answers
            # 413 itself: a partial body must never reach the admin as if it were whole.
            return
        problem = body_problem(header(scope, b"content-type"), body)
        if problem:
            # The admin's own error shape, which its forms show.
            error = {"loc": ["body"], "msg": problem, "type": "value_error"}
            await send_json(send, 422, {"detail": [error]})
            return
    if scope["type"] == "http" and scope.get("method") == "GET" and scope.get("path") == "/":
        extra = RETURN_SCRIPT
        if await staff.is_read_only(scope):
            extra += staff.READ_ONLY_STYLE
        send = _with_page_additions(send, extra)
    if scope["type"] == "http" and scope.get("path") == LOGIN_PATH and scope["method"] == "POST":
        await _throttled_login(admin, throttle, scope, receive, send, body)
        return
    await admin(scope, receive, send)


WRITES = {"POST", "PATCH", "PUT"}
# After its login, Piccolo Admin can only go to routes of its own app; this script sends the
# `nextURL` of the dashboard's login (`#/dashboard/`) on to the dashboard itself.
RETURN_SCRIPT = b'<script src="/dashboard/assets/return.js"></script>'


def _with_page_additions(send: Send, extra: bytes) -> Send:
    """`send` for the admin's page, with `extra` (the dashboard's return script, and the
    read-only style sheet) added before </body>, and the admin's content policy."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def send_page(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            content_type = dict(message.get("headers", [])).get(b"content-type", b"")
            if not content_type.startswith(b"text/html"):
                await send(message)
                return
            start = message
            return
        if start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks).replace(b"</body>", extra + b"</body>", 1)
        dropped = (b"content-length", b"content-security-policy")
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in dropped]
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"content-security-policy", ADMIN_POLICY))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return send_page


# Piccolo Admin's login endpoint, as the mounted admin sees it (/admin/public/login/).
LOGIN_PATH = "/public/login/"


async def _throttled_login(
    admin: ASGIApp,
    throttle: LoginThrottle,
    scope: Scope,
    receive: Receive,
    send: Send,
    body: bytes,
) -> None:
    """Hand a login to the admin unless `throttle` says it must wait (429, with Retry-After
    and which limit); count its refusal (401) for the metrics and its success for `throttle`."""
    username = login_username(header(scope, b"content-type"), body)
    client = scope.get("client")
    address = client[0] if client else ""
    try:
        refusal = await asyncio.to_thread(throttle.attempt, username, address)
    except Exception:
        logger.exception("the login throttle cannot count this attempt")
        detail = "Logins cannot be checked right now (their counts are unreachable): try again"
        await send_json(send, 503, {"detail": detail}, headers=[(b"retry-after", b"5")])
        return
    if refusal is not None:
        metrics.ADMIN_LOGIN_RATE_LIMITED.inc()
        wait = str(max(1, math.ceil(refusal.retry_after))).encode()
        await send_json(send, 429, {"detail": refusal.message}, headers=[(b"retry-after", wait)])
        return
    status = 0

    async def watching(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            if status == 401:
                metrics.ADMIN_LOGIN_REFUSED.inc()
        await send(message)

    await admin(scope, receive, watching)
    if 200 <= status < 400:
        await asyncio.to_thread(throttle.succeeded, username, address)


def login_username(content_type: bytes, body: bytes) -> str:
    """The username a login's body (JSON or a form, as Piccolo's login reads it) names; ""
    when it names none."""
    value: object = None
    try:
        if content_type.startswith(b"application/json"):
            document = json.loads(body)
            value = document.get("username") if isinstance(document, dict) else None
        else:
            value = parse_qs(body.decode(), keep_blank_values=True).get("username", [None])[0]
    except (ValueError, UnicodeDecodeError):
        return ""
    return value if isinstance(value, str) else ""


async def _buffered(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole request body, or None if it never arrived whole; and a receive replaying it.

    RequestLimits has capped the size already.
    """
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive  # http.disconnect before the body ended
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return body, replay


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 308,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
