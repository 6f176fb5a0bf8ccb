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

Operation = Callable[[Any, Any], Awaitable[tuple[int, Any]]]


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
    """Run `operation(adapter, transaction)` in an audited transaction, at most once per key.

    `operation` returns the status and the document to answer with, or raises RosterError.
    """
    caller: Caller = request.state.caller
    storage: Storage = request.app.state.storage
    adapter = storage.adapter()
    key = idempotency_key(request)
    if key is not None:
        sent = fingerprint(request, await request.body())
    async with adapter.audited(caller.actor) as transaction:
        if key is not None:
            stored = await idempotency.claim(caller.key_id, key, sent)
            if stored is not None:
                return _replay(key, sent, stored)
        savepoint = await transaction.savepoint()
        try:
            status, document = await operation(adapter, transaction)
            body = _encode(document)
        except RosterError as error:
            await savepoint.rollback_to()
            status, body = error.status, _encode({"ok": False, "error": str(error)})
        else:
            await savepoint.release()
        if key is not None:
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
