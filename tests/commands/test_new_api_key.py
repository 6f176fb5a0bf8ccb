"""`piccolo home new_api_key NAME`: the key alone on the last line, usable at once."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from home.roster.tables import ApiKey, AuditEntry
from home.tooling import cli
from tests.factories import make_member
from tests.support.client_system import ClientSystem


async def test_new_api_key_prints_a_key_that_authenticates(client, cli_env):
    result = cli.piccolo("home", "new_api_key", "door-scanner", env=cli_env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"rk_[0-9a-f]{10}_[A-Za-z0-9_-]{43}", key), result.stdout
    # Without --scope the key may read, nothing more, and the command says so.
    assert "Scopes: read." in result.stdout and "--scope=read,sessions:write" in result.stdout
    system = ClientSystem(client, key, "door-scanner")
    assert (await system.get("/members/00000000-0000-4000-8000-000000000000")).status_code == 404
    refused = await system.post("/members", {"real_name": "A", "tz": "UTC"})
    assert refused.status_code == 403 and "lacks the scope members:write" in refused.json()["error"]
    [entry] = await AuditEntry.select().where(AuditEntry.table_name == "api_key")
    assert entry["actor"] == "cli" and "key_hash" not in entry["after"]
    assert '"scopes": "read"' in entry["after"] or '"scopes":"read"' in entry["after"]


async def test_scopes_members_and_expiry_are_given_as_targ_reads_them(client, cli_env):
    member = await make_member("DOOR")
    result = cli.piccolo(
        "home",
        "new_api_key",
        "badge-reader",
        "--scope=read,sessions:write",
        f"--members={member.id}",
        "--expires=2099-01-01T00:00:00Z",
        env=cli_env,
    )
    assert result.returncode == 0, result.stderr
    assert "Scopes: read, sessions:write." in result.stdout
    assert f"Limited to 1 member(s): {member.id}." in result.stdout
    assert "Expires at 2099-01-01T00:00:00Z." in result.stdout
    [row] = await ApiKey.select(ApiKey.scopes, ApiKey.member_ids, ApiKey.expires_at)
    assert row["scopes"] == "read,sessions:write"
    assert row["member_ids"] == f'["{member.id}"]'
    assert row["expires_at"] == datetime(2099, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--scope=read,fly"], "unknown scopes fly: use any of read, sessions:write"),
        (["--members=not-a-uuid"], "'not-a-uuid' is not a member id"),
        (["--members=00000000-0000-4000-8000-00000000abcd"], "no member with id 00000000"),
        (["--expires=2001-01-01T00:00:00Z"], "is not in the future"),
        (["--expires=tomorrow"], "expires must be a time such as"),
        (["--scope"], "--scope needs its value after '='"),
        (["--scope=admin", f"--members={uuid.uuid4()}"], "cannot have the admin scope"),
    ],
)
async def test_bad_options_are_refused_in_one_line_writing_nothing(db, cli_env, options, says):
    result = cli.piccolo("home", "new_api_key", "refused", *options, env=cli_env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert await ApiKey.count() == 0


async def test_a_taken_or_empty_name_is_refused_in_one_line(db, cli_env):
    assert cli.piccolo("home", "new_api_key", "taken", env=cli_env).returncode == 0
    for name, says in (("taken", "exists already"), ("  ", "needs a name")):
        result = cli.piccolo("home", "new_api_key", name, env=cli_env)
        assert result.returncode != 0
        assert says in result.stderr and "Traceback" not in result.stderr
    assert await ApiKey.count() == 1
