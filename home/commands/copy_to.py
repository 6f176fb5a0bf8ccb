"""`piccolo home copy_to postgresql://...`: move the roster into PostgreSQL."""

from __future__ import annotations

import sys

from home.settings import get_settings
from home.storage import Storage
from home.transfer.copy import CopyError
from home.transfer.copy import copy_to as copy_roster


async def copy_to(url: str) -> None:
    """Copy everything in the configured database (members, periods with running sessions,
    API keys, admin users, the audit trail, idempotency keys, webhook endpoints, the closing)
    into the PostgreSQL database at URL, which must be empty and migrated to the same
    migrations (`DATABASE_URL=URL piccolo migrations forwards all`). It writes with COPY in
    one transaction, and commits only once every table's row count and checksum match on
    both sides. Then point DATABASE_URL at URL and serve.

    :param url:
        The target, e.g. postgresql://roster:secret@db.example.com:5432/roster

    """
    storage = Storage(get_settings())
    try:
        report = await copy_roster(
            storage.adapter(),
            str(url),
            progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True),
        )
    except CopyError as error:
        raise SystemExit(f"copy_to: {error}") from None
    print("\n".join(report.lines()))
