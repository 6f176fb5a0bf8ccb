"""How the API writes: one audited transaction per request, answered once per Idempotency-Key.

A request carrying `Idempotency-Key` claims the key in the transaction that does its write and
stores its answer there too; a retry with the same key and body gets that answer again
(`Idempotent-Replayed: true`) and writes nothing, while the same key with another body is
refused (422). Answers the roster refused (404, 409, 400) are kept as well, so a retry never
turns a refusal into a different outcome; 5xx answers are not kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import ClientException, HTTPException

from home.roster.api_keys import Caller
from home.roster.sessions import RosterError
from home.storage import Storage, idempotency

KEY_HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
_encode = msgspec.json.encode

Operation = Callable[[Any], Awaitable[tuple[int, Any]]]


def idempotency_key(request: Request[Any, Any, Any]) -> str | None:
    """The request's Idempotency-Key, or None; 400 for one that cannot be a key."""
    key = request.headers.get(KEY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ClientException(
            detail=f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, "
            "e.g. a UUID; send a new one for each new request"
        )
    return key


def fingerprint(request: Request[Any, Any, Any], body: bytes) -> str:
    """What makes two requests the same: method, path and body (JSON compared by value)."""
    try:
        canonical = _encode(msgspec.json.decode(body), order="sorted") if body else b""
    except msgspec.DecodeError:
        canonical = body
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(canonical)
    return digest.hexdigest()


async def write(request: Request[Any, Any, Any], operation: Operation) -> Response[Any]:
    """Run `operation(adapter)` in an audited transaction, at most once per Idempotency-Key.

    `operation` returns the status and the document to answer with, or raises RosterError,
    which rolls its transaction back; the refusal is then explained and, for a request with a
    key, kept in a transaction of its own.
    """
    caller: Caller = request.state.caller
    storage: Storage = request.app.state.storage
    adapter = storage.adapter()
    key = idempotency_key(request)
    sent = fingerprint(request, await request.body()) if key is not None else ""
    try:
        async with adapter.audited(caller.actor):
            if key is not None and (stored := await idempotency.claim(caller.key_id, key, sent)):
                return _replay(key, sent, stored)
            status, document = await operation(adapter)
            body = _encode(document)
            if key is not None:
                await idempotency.answer(caller.key_id, key, status, body.decode())
    except RosterError as refused:
        error = await refused.explained()
        status, body = error.status, _encode({"ok": False, "error": str(error)})
        if key is not None:
            async with adapter.audited(caller.actor):
                if stored := await idempotency.claim(caller.key_id, key, sent):
                    return _replay(key, sent, stored)
                await idempotency.answer(caller.key_id, key, status, body.decode())
    return Response(content=body, status_code=status, media_type=MediaType.JSON)


def _replay(key: str, sent: str, stored: idempotency.Stored) -> Response[Any]:
    if stored.fingerprint != sent:
        raise HTTPException(
            status_code=422,
            detail=f"Idempotency-Key {key!r} was used before with a different request; "
            "send a new key for a new request",
        )
    if stored.status is None or stored.body is None:  # cannot outlive its transaction
        raise HTTPException(status_code=409, detail=f"Idempotency-Key {key!r} is in use")
    return Response(
        content=stored.body.encode(),
        status_code=stored.status,
        media_type=MediaType.JSON,
        headers={"idempotent-replayed": "true"},
    )
