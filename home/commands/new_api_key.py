"""`piccolo home new_api_key NAME`: make an API key for a client system."""

from __future__ import annotations

from home.roster.api_keys import SCOPE_TEXT, ApiKeyError, create_api_key
from home.settings import get_settings
from home.storage import Storage


async def new_api_key(name: str, scope: str = "", members: str = "", expires: str = "") -> None:
    """Create an API key called NAME and print it (alone, on the last line); it is shown once.

    :param name:
        Which system uses the key, e.g. door-scanner (1 to 100 characters, unique).
    :param scope:
        What it may do, comma separated: read (GET of members, reports and changes),
        sessions:write (start, stop and add periods), members:write (create members), admin
        (webhooks and closing periods). Default: read alone.
    :param members:
        Member ids, comma separated: the key reads and writes only these members (default:
        every member).
    :param expires:
        When the key stops working, e.g. 2027-01-01T00:00:00Z (default: never).

    """
    for flag, value in (("--scope", scope), ("--members", members), ("--expires", expires)):
        if value is True:  # the CLI passes a bare `--scope` (or `--scope read`) as True
            raise SystemExit(f"new_api_key: {flag} needs its value after '=', e.g. {flag}=read")
    storage = Storage(get_settings())
    try:
        made = await create_api_key(
            storage.adapter(), name, actor="cli", scopes=scope, members=members, expires=expires
        )
    except ApiKeyError as error:
        raise SystemExit(f"new_api_key: {error}; nothing was written") from None
    finally:
        await storage.close()
    print(f"API key {made.name!r} created. Scopes: {', '.join(made.scopes)}.")
    if not scope:
        print(
            f"  (read alone: {SCOPE_TEXT['read']}. Give --scope=read,sessions:write for a system "
            "that records sessions.)"
        )
    if made.members is not None:
        print(f"  Limited to {len(made.members)} member(s): {', '.join(made.members)}.")
    if made.expires_at is not None:
        print(f"  Expires at {made.expires_at:%Y-%m-%dT%H:%M:%SZ}.")
    print("It is shown once, here; keep it secret:")
    print(made.key)
