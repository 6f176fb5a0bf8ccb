"""`piccolo home ensure_admin`: make sure an admin user can log in to /admin/."""

from __future__ import annotations

import secrets

from piccolo.apps.user.tables import BaseUser

from home.settings import settings


async def ensure_admin() -> None:
    """Ensure an admin user: ADMIN_USERNAME/ADMIN_PASSWORD, else `admin` with a printed password."""
    username = settings.admin_username or "admin"
    password = settings.admin_password
    existing = await BaseUser.objects().get(BaseUser.username == username)
    if existing is not None:
        await BaseUser.update({BaseUser.admin: True, BaseUser.active: True}).where(
            BaseUser.id == existing.id
        )
        if password:
            await BaseUser.update_password(username, password)
            print(f"Admin user {username!r}: password set from ADMIN_PASSWORD")
        else:
            print(
                f"Admin user {username!r} exists (password unchanged; "
                f"reset it with: piccolo user change_password)"
            )
        return
    generated = password is None
    if generated:
        password = secrets.token_urlsafe(12)
    await BaseUser.create_user(
        username=username,
        password=password,
        email=f"{username}@localhost",
        admin=True,
        active=True,
        superuser=True,
    )
    if generated:
        print(f"Admin user created -> username: {username}  password: {password}")
    else:
        print(f"Admin user {username!r} created from ADMIN_USERNAME / ADMIN_PASSWORD")
