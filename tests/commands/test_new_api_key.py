"""`piccolo home new_api_key NAME`: the key alone on the last line, usable at once."""

from __future__ import annotations

import re

from home.roster.tables import ApiKey, AuditEntry
from home.tooling import cli
from tests.support.client_system import ClientSystem


async def test_new_api_key_prints_a_key_that_authenticates(client, cli_env):
    result = cli.piccolo("home", "new_api_key", "door-scanner", env=cli_env)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"rk_[0-9a-f]{10}_[A-Za-z0-9_-]{43}", key), result.stdout
    system = ClientSystem(client, key, "door-scanner")
    assert (await system.post("/members", {"real_name": "A", "tz": "UTC"})).status_code == 201
    [entry] = await AuditEntry.select().where(AuditEntry.table_name == "api_key")
    assert entry["actor"] == "cli" and "key_hash" not in entry["after"]


async def test_a_taken_or_empty_name_is_refused_in_one_line(db, cli_env):
    assert cli.piccolo("home", "new_api_key", "taken", env=cli_env).returncode == 0
    for name, says in (("taken", "exists already"), ("  ", "needs a name")):
        result = cli.piccolo("home", "new_api_key", name, env=cli_env)
        assert result.returncode != 0
        assert says in result.stderr and "Traceback" not in result.stderr
    assert await ApiKey.count() == 1
