"""The admin mounted into Litestar at /admin/."""

from __future__ import annotations

import json
import re
from typing import Any

from litestar import asgi
from litestar.types import Message, Receive, Scope, Send

from home.admin import ADMIN
from home.limits import send_json


@asgi("/admin", is_mount=True, copy_scope=True, include_in_schema=False)
async def admin_mount(scope: Scope, receive: Receive, send: Send) -> None:
    """Hand every /admin/... request to the admin built at start-up."""
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
    if scope["type"] == "http" and scope.get("method") in WRITES:
        body, receive = await _buffered(receive)
        if body is None:
            # The client went away, or home.limits cut an oversized body short and answers
            # 413 itself: a partial body must never reach the admin as if it were whole.
            return
        problem = _json_text_problem(scope, body)
        if problem:
            await send_json(send, 422, problem)
            return
    await ADMIN(scope, receive, send)


WRITES = {"POST", "PATCH", "PUT"}
# A JSON escape of a UTF-16 surrogate; paired ones stand for one character, lone ones for none.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
SURROGATE_ERROR = (
    "the body contains a lone UTF-16 surrogate (e.g. \\ud800), which is not text; "
    "send whole characters"
)
NOT_UTF8_ERROR = "the body is not valid UTF-8 text; send JSON encoded as UTF-8"


def _body_error(message: str) -> dict:
    """An error in the admin's own shape, which its forms show."""
    return {"detail": [{"loc": ["body"], "msg": message, "type": "value_error"}]}


def _json_text_problem(scope: Scope, body: bytes) -> dict | None:
    """Why a JSON body holds something that is not text (the admin would answer 500), or None."""
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
    if not content_type.lower().startswith(b"application/json"):
        return None
    try:
        body.decode("utf-8")  # strict: refuses encoded surrogates too
    except UnicodeDecodeError:
        return _body_error(NOT_UTF8_ERROR)
    if _has_lone_surrogate(body):
        return _body_error(SURROGATE_ERROR)
    return None


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


def _has_lone_surrogate(body: bytes) -> bool:
    """True when the JSON body holds text that cannot be encoded (the admin would answer 500)."""
    if not _SURROGATE_ESCAPE.search(body):
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False  # not JSON: the admin answers that itself
    return not _encodable(document)


def _encodable(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_encodable(key) and _encodable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_encodable(item) for item in value)
    return True


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 308,
            "headers": [(b"location", location.encode()), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
