"""`piccolo home ensure_admin`: the run command always leaves a working admin login."""

from __future__ import annotations

import re

from piccolo.apps.user.tables import BaseUser

from home.tooling import cli


def ensure_admin(env: dict[str, str], **extra: str):
    """`piccolo home ensure_admin` against the test database, with `extra` settings."""
    return cli.piccolo("home", "ensure_admin", env={**env, **extra}, timeout=60)


async def test_ensure_admin_creates_admin_with_printed_random_password(db, cli_env):
    result = ensure_admin(cli_env)
    assert result.returncode == 0, result.stderr
    match = re.search(r"username: admin\s+password: (\S+)", result.stdout)
    assert match, result.stdout
    assert await BaseUser.login("admin", match.group(1)) is not None
    user = await BaseUser.objects().get(BaseUser.username == "admin")
    assert user.admin and user.active


async def test_ensure_admin_prints_the_password_only_once(db, cli_env):
    first = ensure_admin(cli_env)
    second = ensure_admin(cli_env)
    assert "password:" in first.stdout
    assert "password:" not in second.stdout
    assert "exists" in second.stdout
    assert await BaseUser.count() == 1


async def test_ensure_admin_uses_credentials_from_environment(db, cli_env):
    result = ensure_admin(cli_env, ADMIN_USERNAME="ops", ADMIN_PASSWORD="correct-horse-battery")
    assert result.returncode == 0, result.stderr
    assert "correct-horse-battery" not in result.stdout
    assert await BaseUser.login("ops", "correct-horse-battery") is not None
    rotated = ensure_admin(cli_env, ADMIN_USERNAME="ops", ADMIN_PASSWORD="another-long-secret")
    assert rotated.returncode == 0, rotated.stderr
    assert await BaseUser.login("ops", "another-long-secret") is not None
    assert await BaseUser.count() == 1


async def test_refused_password_changes_no_account(db, cli_env):
    await BaseUser.create_user(
        username="dave", password="daves-own-password", email="dave@x.test", active=True
    )
    result = ensure_admin(cli_env, ADMIN_USERNAME="dave", ADMIN_PASSWORD="abc")
    assert result.returncode != 0
    assert "ADMIN_PASSWORD is refused" in result.stderr and "nothing was changed" in result.stderr
    assert "Traceback" not in result.stderr
    dave = await BaseUser.objects().get(BaseUser.username == "dave")
    assert not dave.admin
    assert await BaseUser.login("dave", "daves-own-password") is not None


async def test_new_admin_gets_an_address_nobody_has(db, cli_env):
    await BaseUser.create_user(
        username="someone", password="someones-password", email="ops@localhost"
    )
    result = ensure_admin(cli_env, ADMIN_USERNAME="ops", ADMIN_PASSWORD="correct-horse-battery")
    assert result.returncode == 0, result.stderr
    ops = await BaseUser.objects().get(BaseUser.username == "ops")
    assert ops.admin and ops.email != "ops@localhost" and ops.email.endswith("@localhost")
