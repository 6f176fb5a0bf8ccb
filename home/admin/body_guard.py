"""What the admin must never be handed: request bodies it would answer with a 500.

Piccolo Admin (FastAPI and piccolo_api underneath) fails on text that is not text: bytes that
are not UTF-8 and lone UTF-16 surrogates crash its own error page, NUL crashes PostgreSQL,
and NaN or Infinity crash its JSON output. The mount refuses such bodies first, with a 422
in the admin's own error shape, whatever Content-Type the client claims (its login endpoint
reads JSON regardless).
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

NOT_UTF8 = "the body is not valid UTF-8 text; send JSON encoded as UTF-8"
SURROGATE = (
    "the body contains a lone UTF-16 surrogate (e.g. \\ud800), which is not text; "
    "send whole characters"
)
NUL = "the body contains a NUL character (\\u0000), which no stored text may hold; remove it"
NOT_FINITE = "the body contains NaN, Infinity or a number too large; send finite numbers"


def body_problem(content_type: bytes, body: bytes) -> str | None:
    """Why the admin cannot be given `body`, or None."""
    content_type = content_type.lower()
    if not body or content_type.startswith(b"multipart/"):
        return None  # uploads carry bytes on purpose (and none are configured)
    try:
        text = body.decode("utf-8")  # strict: refuses encoded surrogates too
    except UnicodeDecodeError:
        return NOT_UTF8
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        values = [item for pair in parse_qsl(text, keep_blank_values=True) for item in pair]
        return NUL if any("\x00" in value for value in values) else None
    try:
        document = json.loads(text, parse_constant=_not_finite)
    except _NotFinite:
        return NOT_FINITE
    except ValueError:
        # Not JSON: the admin answers that itself, but NUL must not reach the database.
        return NUL if "\x00" in text else None
    return _value_problem(document)


class _NotFinite(ValueError):
    pass


def _not_finite(name: str) -> None:
    raise _NotFinite(name)


def _value_problem(value: Any) -> str | None:
    if isinstance(value, str):
        if "\x00" in value:
            return NUL
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else NOT_FINITE
    if isinstance(value, dict):
        items = [item for pair in value.items() for item in pair]
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((problem for item in items if (problem := _value_problem(item))), None)
