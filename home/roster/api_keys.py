"""API keys of the client systems that record activity.

A key looks like `rk_3f9a2c71d0_<43 random characters>`. It is shown once, when made; only its
SHA-256 hash is stored, beside the prefix (`3f9a2c71d0`) that finds it. The secret part carries
256 random bits, so a fast hash is as safe as a slow one and keeps every request cheap.

A key carries scopes (`read`; `sessions:write`; `members:write`; `admin`), may be limited to a
list of members (for any other it is answered as if the member did not exist), and may expire.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from home.roster.tables import KEY_NAME_MAX_LENGTH, ApiKey, Member
from home.storage import Adapter
from home.storage.base import Rule

SCHEME = "rk"
SCOPES = ("read", "sessions:write", "members:write", "admin")
SCOPE_TEXT = {
    "read": "GET of members, reports and changes",
    "sessions:write": "start, stop and add periods",
    "members:write": "create members",
    "admin": "manage webhook endpoints and close periods",
}
DEFAULT_SCOPES = ("read",)
MAX_MEMBERS_PER_KEY = 1000


class ApiKeyError(ValueError):
    """A key cannot be made or used as asked; the message says what to change."""


@dataclass(frozen=True)
class Caller:
    """Who an authenticated request comes from, and what its key allows."""

    key_id: int
    name: str
    scopes: frozenset[str] = frozenset(SCOPES)
    members: frozenset[str] | None = None
    """The only members the key may read and write; None: every member."""
    expires_at: datetime | None = None

    def may_see(self, member_id: str) -> bool:
        """Whether the key may read or write this member."""
        return self.members is None or member_id in self.members

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


def parse_scopes(raw: object) -> tuple[str, ...]:
    """Scopes from a list or a comma-separated text, in their canonical order; ApiKeyError
    naming the known ones otherwise."""
    if raw is None or raw == "":
        return DEFAULT_SCOPES
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise ApiKeyError("scopes must be a comma-separated list, e.g. read,sessions:write")
    wanted = {item.strip() for item in items if item.strip()}
    unknown = sorted(wanted - set(SCOPES))
    if unknown:
        raise ApiKeyError(f"unknown scopes {', '.join(unknown)}: use any of {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in wanted) or DEFAULT_SCOPES


def parse_members(raw: object) -> tuple[str, ...] | None:
    """Member ids from a list or a comma-separated text (None or empty: every member);
    ApiKeyError for one that is not a UUID."""
    if raw is None or raw == "":
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ApiKeyError("members must be a comma-separated list of member ids")
    found: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            found.append(str(uuid.UUID(text)))
        except ValueError:
            raise ApiKeyError(f"{text[:60]!r} is not a member id (a UUID)") from None
    if len(found) > MAX_MEMBERS_PER_KEY:
        raise ApiKeyError(f"a key may be limited to at most {MAX_MEMBERS_PER_KEY} members")
    return tuple(dict.fromkeys(found)) or None


def parse_expiry(raw: object, now: datetime) -> datetime | None:
    """An expiry time (RFC 3339 with an offset) after `now`, or None for a key that does not
    expire; ApiKeyError otherwise."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(str(raw).strip().upper().replace("Z", "+00:00"))
        except ValueError:
            raise ApiKeyError(
                f"expires must be a time such as 2027-01-01T00:00:00Z, not {str(raw)[:60]!r}"
            ) from None
    if moment.tzinfo is None:
        raise ApiKeyError("expires needs a UTC offset, e.g. 2027-01-01T00:00:00Z")
    moment = moment.astimezone(UTC)
    if moment <= now:
        raise ApiKeyError(f"expires ({moment:%Y-%m-%dT%H:%M:%SZ}) is not in the future")
    return moment


@dataclass(frozen=True)
class NewKey:
    """A key just made: the key itself (shown once) and what it allows."""

    key: str
    name: str
    scopes: tuple[str, ...]
    members: tuple[str, ...] | None
    expires_at: datetime | None


async def create_api_key(
    adapter: Adapter,
    name: object,
    actor: str,
    scopes: object = None,
    members: object = None,
    expires: object = None,
    now: datetime | None = None,
) -> NewKey:
    """Make a key called `name` with `scopes` (default: read), limited to `members` (default:
    every member), expiring at `expires` (default: never). The key itself is stored nowhere."""
    now = datetime.now(UTC) if now is None else now
    name = check_key_name(name)
    allowed = parse_scopes(scopes)
    limited = parse_members(members)
    expires_at = parse_expiry(expires, now)
    if limited is not None and "admin" in allowed:
        raise ApiKeyError(
            "a key limited to members cannot have the admin scope (webhooks and closings "
            "concern every member)"
        )
    prefix = secrets.token_hex(5)
    key = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    async with adapter.audited(actor) as transaction:
        if await ApiKey.exists().where(ApiKey.name == name):
            raise ApiKeyError(f"a key named {name!r} exists already; choose another name")
        if limited is not None:
            known = {
                str(row["id"])
                for row in await Member.select(Member.id).where(Member.id.is_in(list(limited)))
            }
            missing = [member for member in limited if member not in known]
            if missing:
                raise ApiKeyError(f"no member with id {missing[0]}; the key was not made")
        savepoint = await transaction.savepoint()
        try:
            await ApiKey.insert(
                ApiKey(
                    name=name,
                    prefix=prefix,
                    key_hash=hash_key(key),
                    active=True,
                    scopes=",".join(allowed),
                    member_ids=None if limited is None else json.dumps(list(limited)),
                    expires_at=expires_at,
                )
            )
        except Exception as error:
            if adapter.broken_rule(error) is not Rule.UNIQUE_KEY_NAME:
                raise
            await savepoint.rollback_to()
            raise ApiKeyError(f"a key named {name!r} exists already; choose another name") from None
    return NewKey(key, name, allowed, limited, expires_at)


# prefix -> (looked up at, the caller, hash): a key's identity and what it allows never change,
# so they are looked up once a minute; whether it is still active is read on every request
# (`count_request`), and its expiry compared with the clock on every request.
_known: dict[str, tuple[float, Caller, str]] = {}
KNOWN_SECONDS = 60.0


def is_known(presented: str) -> bool:
    """Whether `presented`'s prefix was looked up lately, so checking it costs no query."""
    prefix = presented.partition("_")[2].partition("_")[0]
    known = _known.get(prefix)
    return known is not None and time.monotonic() - known[0] <= KNOWN_SECONDS


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
            await ApiKey.select(
                ApiKey.id,
                ApiKey.name,
                ApiKey.key_hash,
                ApiKey.scopes,
                ApiKey.member_ids,
                ApiKey.expires_at,
            )
            .where(ApiKey.prefix == prefix)
            .first()
        )
        if row is None:
            _known.pop(prefix, None)
            return None
        members = json.loads(row["member_ids"]) if row["member_ids"] else None
        caller = Caller(
            row["id"],
            row["name"],
            frozenset(scope for scope in row["scopes"].split(",") if scope),
            None if members is None else frozenset(members),
            row["expires_at"],
        )
        known = _known[prefix] = (now, caller, row["key_hash"])
    _, caller, stored_hash = known
    if not hmac.compare_digest(stored_hash, hash_key(presented)):
        return None
    return caller


async def note_use(key_id: int) -> None:
    """Record that the key was used now (the admin shows when it was last used)."""
    await ApiKey.update({ApiKey.last_used_at: datetime.now(UTC)}).where(ApiKey.id == key_id)
