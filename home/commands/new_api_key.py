"""`piccolo home new_api_key NAME`: make an API key for a client system."""

from __future__ import annotations

from home.roster.api_keys import ApiKeyError, create_api_key
from home.settings import get_settings
from home.storage import Storage


async def new_api_key(name: str) -> None:
    """Create an API key called NAME and print it (alone, on the last line); it is shown once.

    :param name:
        Which system uses the key, e.g. door-scanner (1 to 100 characters, unique).

    """
    storage = Storage(get_settings())
    try:
        key = await create_api_key(storage.adapter(), name, actor="cli")
    except ApiKeyError as error:
        raise SystemExit(f"new_api_key: {error}; nothing was written") from None
    finally:
        await storage.close()
    print(f"API key {name.strip()!r} created. It is shown once, here; keep it secret:")
    print(key)
