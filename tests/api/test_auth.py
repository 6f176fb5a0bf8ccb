"""The optional read token: with FETCH_TOKEN set, /fetch/ needs `Authorization: Bearer`."""

from __future__ import annotations

import pytest

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def token_client(db, client_for):
    """A client for the app built with FETCH_TOKEN set."""
    return client_for(fetch_token=TOKEN)


async def test_fetch_is_public_without_a_token_configured(client):
    assert (await client.get("/fetch/")).status_code == 200


async def test_fetch_token_is_required_when_configured(token_client):
    missing = await token_client.get("/fetch/")
    assert missing.status_code == 401
    assert missing.json()["ok"] is False and "Authorization: Bearer" in missing.json()["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await token_client.get("/fetch/", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["ok"] is False
    basic = await token_client.get("/fetch/", headers={"authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    right = await token_client.get("/fetch/", headers={"authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200 and right.json()["ok"] is True


async def test_health_stays_open_when_a_token_is_configured(token_client):
    assert (await token_client.get("/health/live")).status_code == 200
