"""API keys: 401 without a valid one, only a hash stored, a rate limit all instances share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from home.api.auth import KeyFailures
from home.roster.api_keys import hash_key
from home.roster.tables import ApiKey, Member
from tests.support.client_system import ClientSystem

BODY = {"real_name": "Ada", "tz": "UTC"}


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        (None, "needs an API key"),
        ("Basic abc", "needs an API key"),
        ("Bearer ", "needs an API key"),
        ("Bearer rk_0000000000_not-a-real-key", "unknown or revoked"),
        ("Bearer something-else", "unknown or revoked"),
    ],
)
async def test_requests_without_a_valid_key_get_401_and_write_nothing(
    client, system, authorization, says
):
    headers = {} if authorization is None else {"authorization": authorization}
    response = await client.post("/api/members", json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error": response.json()["error"]}
    assert says in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await Member.count() == 0


async def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_refused(client, system):
    prefix = system.key.rsplit("_", 1)[0]
    forged = ClientSystem(client, f"{prefix}_{'A' * 43}", "forged")
    assert (await forged.post("/members", BODY)).status_code == 401


async def test_only_a_hash_and_a_prefix_are_stored(system):
    [row] = await ApiKey.select(ApiKey.prefix, ApiKey.key_hash, ApiKey.created_at)
    assert system.key.startswith(f"rk_{row['prefix']}_")
    assert row["key_hash"] == hash_key(system.key) and system.key not in row.values()
    assert abs(row["created_at"] - datetime.now(UTC)) < timedelta(minutes=1)


async def test_a_revoked_key_gets_401_at_once(system):
    assert (await system.post("/members", BODY)).status_code == 201
    await ApiKey.update({ApiKey.active: False}).where(ApiKey.name == system.name)
    refused = await system.post("/members", BODY)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]
    assert await Member.count() == 1


async def test_use_is_recorded_as_last_used(system):
    before = (await ApiKey.select(ApiKey.last_used_at).first())["last_used_at"]
    assert before is None
    await system.get("/members/00000000-0000-0000-0000-000000000000")
    used = (await ApiKey.select(ApiKey.last_used_at).first())["last_used_at"]
    assert abs(used - datetime.now(UTC)) < timedelta(minutes=1)


def ten_seconds_into_a_minute() -> float:
    """A clock stopped 10 s into a minute (a real one may pass into the next minute mid-test)."""
    return 1_800_000_000.0 // 60 * 60 + 10


async def test_past_the_limit_the_key_gets_429_with_retry_after(db, adapter, client_for):
    limited = client_for(api_rate_limit=3, clock=ten_seconds_into_a_minute)
    system = await ClientSystem.register(limited, adapter)
    statuses = [(await system.post("/members", BODY)).status_code for _ in range(3)]
    over = await system.post("/members", BODY)
    assert statuses == [201, 201, 201]
    assert over.status_code == 429
    assert over.headers["retry-after"] == "50"  # the rest of the minute
    assert "more than 3 requests this minute" in over.json()["error"]
    assert await Member.count() == 3
    # Another key has its own allowance.
    other = await ClientSystem.register(limited, adapter)
    assert (await other.post("/members", BODY)).status_code == 201


async def test_the_limit_is_counted_together_by_every_instance(db, adapter, client_for):
    """Two app instances on one database (as two workers or hosts) share one count."""
    first, second = (
        client_for(api_rate_limit=4, clock=ten_seconds_into_a_minute) for _ in range(2)
    )
    system = await ClientSystem.register(first, adapter)
    on_second = ClientSystem(second, system.key, system.name)
    statuses = []
    for instance in (system, on_second, system, on_second, system, on_second):
        statuses.append((await instance.post("/members", BODY)).status_code)
    assert statuses == [201, 201, 201, 201, 429, 429]


async def test_a_new_minute_gives_the_key_a_new_allowance(db, adapter, client_for):
    now = [ten_seconds_into_a_minute()]
    limited = client_for(api_rate_limit=1, clock=lambda: now[0])
    system = await ClientSystem.register(limited, adapter)
    assert (await system.post("/members", BODY)).status_code == 201
    assert (await system.post("/members", BODY)).status_code == 429
    now[0] += 50  # the next minute
    assert (await system.post("/members", BODY)).status_code == 201


async def test_unknown_keys_past_the_limit_get_429_without_a_lookup(
    db, adapter, client_for, monkeypatch
):
    limited = client_for(api_key_failure_limit=3, clock=ten_seconds_into_a_minute)
    working = await ClientSystem.register(limited, adapter)
    assert (await working.post("/members", BODY)).status_code == 201  # its key is looked up now
    guesses = [ClientSystem(limited, f"rk_guess{n:04d}_{'A' * 43}", f"guess {n}") for n in range(5)]
    statuses = [(await guess.post("/members", BODY)).status_code for guess in guesses[:3]]
    assert statuses == [401, 401, 401]
    looked_up = []
    real_select = ApiKey.select
    monkeypatch.setattr(ApiKey, "select", lambda *a: looked_up.append(a) or real_select(*a))
    over = await guesses[3].post("/members", BODY)
    assert over.status_code == 429
    assert over.headers["retry-after"] == "50"  # the rest of the minute
    assert "more than 3 unknown API keys came from this address" in over.json()["error"]
    assert looked_up == []  # refused before the database was asked
    # The address's working client, whose key was looked up lately, still gets through.
    assert (await working.post("/members", BODY)).status_code == 201
    # Another address has its own allowance.
    transport = httpx.ASGITransport(app=limited._transport.app, client=("198.51.100.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        elsewhere = ClientSystem(other, guesses[4].key, "elsewhere")
        assert (await elsewhere.post("/members", BODY)).status_code == 401


async def test_unknown_keys_are_counted_by_network_and_minute():
    failures = KeyFailures(limit=2)
    now = 600.0
    for host in ("2001:db8::1", "2001:db8::2"):
        failures.count(host, now)
    assert failures.retry_after("2001:db8:0:0:ffff::9", now) == 60  # the same /64
    assert failures.retry_after("2001:db8:0:1::1", now) is None
    assert failures.retry_after("2001:db8::1", now + 60) is None  # a new minute
