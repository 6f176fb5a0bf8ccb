"""First-run set-up for `make run`: demo data when the roster is empty, and an admin user."""

from __future__ import annotations

import asyncio

from home.commands.ensure_admin import ensure_admin_user
from home.roster.demo import populate_roster
from home.roster.tables import Member
from home.settings import Settings, get_settings
from home.storage import Storage

DEMO_MEMBERS = 10


async def bootstrap(settings: Settings) -> None:
    """Seed demo members into an empty roster and make sure an admin can log in."""
    storage = Storage(settings)
    try:
        stored = await Member.count()
        if stored == 0:
            result = await populate_roster(storage.adapter(), DEMO_MEMBERS, actor="make run")
            print(f"Seeded {result.members} demo members with {result.periods} activity periods")
        else:
            print(f"Roster has {stored} members; no demo data added")
    finally:
        await storage.close()
    await ensure_admin_user(settings)


if __name__ == "__main__":
    asyncio.run(bootstrap(get_settings()))
