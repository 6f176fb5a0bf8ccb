"""First-run set-up for `make run`: demo data when the roster is empty, and an admin user."""

from __future__ import annotations

import asyncio

from home.commands.ensure_admin import ensure_admin
from home.populate import populate_roster
from home.tables import Member

DEMO_MEMBERS = 10


async def bootstrap() -> None:
    """Seed demo members into an empty roster and make sure an admin can log in."""
    if await Member.count() == 0:
        result = await populate_roster(DEMO_MEMBERS)
        print(f"Seeded {result.members} demo members with {result.periods} activity periods")
    else:
        print(f"Roster has {await Member.count()} members; no demo data added")
    await ensure_admin()


if __name__ == "__main__":
    asyncio.run(bootstrap())
