"""`piccolo home ensure_admin`: make sure an admin user can log in to /admin/."""

from __future__ import annotations

import secrets

from piccolo.apps.user.tables import BaseUser

from home.settings import Settings, get_settings


async def ensure_admin() -> None:
    """Ensure an admin user: ADMIN_USERNAME/ADMIN_PASSWORD, else `admin` with a printed password.

    All or nothing: a password Piccolo refuses changes no account.
    """
    await ensure_admin_user(get_settings())


async def ensure_admin_user(settings: Settings) -> None:
    """Create or update the admin user the settings name; print what was done."""
    username = settings.admin_username or "admin"
    password = settings.admin_password
    if password is not None:
        try:
            BaseUser._validate_password(password)
        except ValueError as error:
            raise SystemExit(
                f"ensure_admin: ADMIN_PASSWORD is refused ({error}); nothing was changed"
            ) from None
    async with BaseUser._meta.db.transaction():
        existing = await BaseUser.objects().get(BaseUser.username == username)
        if existing is not None:
            await BaseUser.update({BaseUser.admin: True, BaseUser.active: True}).where(
                BaseUser.id == existing.id
            )
            if password:
                await BaseUser.update_password(username, password)
                message = f"Admin user {username!r}: password set from ADMIN_PASSWORD"
            else:
                message = (
                    f"Admin user {username!r} exists (password unchanged; "
                    f"reset it with: piccolo user change_password)"
                )
        else:
            generated = password is None
            if generated:
                password = secrets.token_urlsafe(12)
            await BaseUser.create_user(
                username=username,
                password=password,
                email=await _free_email(username),
                admin=True,
                active=True,
                superuser=True,
            )
            if generated:
                message = f"Admin user created -> username: {username}  password: {password}"
            else:
                message = f"Admin user {username!r} created from ADMIN_USERNAME / ADMIN_PASSWORD"
    print(message)


async def _free_email(username: str) -> str:
    """A placeholder address no other user has (the column is unique)."""
    email = f"{username}@localhost"
    while await BaseUser.exists().where(BaseUser.email == email):
        email = f"{username}+{secrets.token_hex(4)}@localhost"
    return email
