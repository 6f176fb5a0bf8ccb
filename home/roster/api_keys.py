"""API keys of the client systems that record activity.

A key looks like `rk_3f9a2c71d0_<43 random characters>`. It is shown once, when made; only its
SHA-256 hash is stored, beside the prefix (`3f9a2c71d0`) that finds it. The secret part carries
256 random bits, so a fast hash is as safe as a slow one and keeps every request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from home.roster.tables import KEY_NAME_MAX_LENGTH, ApiKey
from home.storage import Adapter
from home.storage.base import Rule

SCHEME = "rk"


class ApiKeyError(ValueError):
    """A key cannot be made or used as asked; the message says what to change."""


@dataclass(frozen=True)
class Caller:
    """Who an authenticated request comes from."""

    key_id: int
    name: str

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return f"api key {self.name}"


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def check_key_name(name: object) -> str:
    """The name, stripped, or ApiKeyError saying what is allowed."""
    if not isinstance(name, str) or not name.strip():
        raise ApiKeyError("the key needs a name saying which system uses it, e.g. door-scanner")
    name = name.strip()
    if len(name) > KEY_NAME_MAX_LENGTH:
        raise ApiKeyError(f"the name is {len(name)} characters; the limit is {KEY_NAME_MAX_LENGTH}")
    if not name.isprintable():
        raise ApiKeyError("the name must be printable text (no control characters)")
    return name


async def create_api_key(adapter: Adapter, name: object, actor: str) -> str:
    """Make a key called `name`; return the key itself, which is stored nowhere."""
    name = check_key_name(name)
    prefix = secrets.token_hex(5)
    key = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    async with adapter.audited(actor) as transaction:
        if await ApiKey.exists().where(ApiKey.name == name):
            raise ApiKeyError(f"a key named {name!r} exists already; choose another name")
        savepoint = await transaction.savepoint()
        try:
            await ApiKey.insert(
                ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), active=True)
            )
        except Exception as error:
            if adapter.broken_rule(error) is not Rule.UNIQUE_KEY_NAME:
                raise
            await savepoint.rollback_to()
            raise ApiKeyError(f"a key named {name!r} exists already; choose another name") from None
    return key


# prefix -> (looked up at, id, name, hash): a key's identity never changes, so it is looked up
# once a minute; whether it is still active is read on every request (`count_request`).
_known: dict[str, tuple[float, int, str, str]] = {}
KNOWN_SECONDS = 60.0


async def authenticate(presented: str) -> Caller | None:
    """The caller a presented key belongs to, or None for a malformed or unknown key.

    The hash is compared in constant time. Whether the key was revoked is the caller's to
    check, with the request count (`Adapter.count_request`), which reads it on every request.
    """
    scheme, _, rest = presented.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or not prefix or not secret or len(presented) > 200:
        return None
    now = time.monotonic()
    known = _known.get(prefix)
    if known is None or now - known[0] > KNOWN_SECONDS:
        row = (
            await ApiKey.select(ApiKey.id, ApiKey.name, ApiKey.key_hash)
            .where(ApiKey.prefix == prefix)
            .first()
        )
        if row is None:
            _known.pop(prefix, None)
            return None
        known = _known[prefix] = (now, row["id"], row["name"], row["key_hash"])
    _, key_id, name, stored_hash = known
    if not hmac.compare_digest(stored_hash, hash_key(presented)):
        return None
    return Caller(key_id, name)


async def note_use(key_id: int) -> None:
    """Record that the key was used now (the admin shows when it was last used)."""
    await ApiKey.update({ApiKey.last_used_at: datetime.now(UTC)}).where(ApiKey.id == key_id)
