"""`piccolo home new_staff USER [--read_only]`: an operator account for the admin."""

from __future__ import annotations

import getpass
import sys

from piccolo.apps.user.tables import BaseUser


def _password(username: str) -> str:
    """Asked twice at a terminal; otherwise the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass(f"Password for {username}: ")
        if getpass.getpass("The same again: ") != first:
            raise SystemExit("new_staff: the passwords differ; nothing was written")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def new_staff(username: str, read_only: bool = False) -> None:
    """Create USERNAME, who may log in to the admin. A superuser may change everything; with
    --read_only, the user may browse every table, read the audit trail and use the dashboard,
    and change nothing. The password is asked for at a terminal, or read from standard input
    (its first line) when that is not a terminal.

    :param username:
        The login name (unique).
    :param read_only:
        Read-only staff rather than a superuser.

    """
    username = str(username).strip()
    if not username:
        raise SystemExit("new_staff: give a username, e.g. piccolo home new_staff alice")
    password = _password(username)
    try:
        BaseUser._validate_password(password)
    except ValueError as error:
        raise SystemExit(
            f"new_staff: the password is refused ({error}); nothing was written"
        ) from None
    if await BaseUser.exists().where(BaseUser.username == username):
        raise SystemExit(
            f"new_staff: a user named {username!r} exists already; nothing was written"
        )
    await BaseUser.create_user(
        username=username,
        password=password,
        email=f"{username}@roster.invalid",
        active=True,
        admin=True,
        superuser=not read_only,
    )
    kind = "read-only staff" if read_only else "a superuser"
    print(f"Created {username!r}, {kind}, who may log in at /admin/")
