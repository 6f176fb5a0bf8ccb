"""Database outages answer 503 in the API's one error shape; bugs stay 500 without details."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

OUTAGES = [
    ConnectionRefusedError("[Errno 111] Connect call failed"),
    TimeoutError(),
    asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    ),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.InterfaceError("connection is closed"),
    sqlite3.OperationalError("database is locked"),
    sqlite3.OperationalError("unable to open database file"),
]


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda error: type(error).__name__)
async def test_fetch_answers_503_when_the_database_is_unavailable(app, client, monkeypatch, outage):
    async def fail(*_args, **_kwargs):
        raise outage

    # Every /fetch/ starts by asking the database for the data version.
    monkeypatch.setattr(app.state.storage.adapter(), "current_version", fail)
    response = await client.get("/fetch/")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "the database is unavailable; retry shortly"}
    assert int(response.headers["retry-after"]) > 0


async def test_a_bug_is_a_500_without_internals(app, client, monkeypatch):
    async def bug(*_args, **_kwargs):
        raise KeyError("secret_column")

    monkeypatch.setattr(app.state.storage.adapter(), "current_version", bug)
    response = await client.get("/fetch/")
    assert response.status_code == 500
    assert response.json() == {
        "ok": False,
        "error": "internal server error; the failure was logged",
    }
    assert "secret_column" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("POST", "/fetch/", 405), ("PUT", "/health/live", 405)],
)
async def test_api_errors_share_one_shape(client, method, path, status):
    response = await client.request(method, path)
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["ok", "error"] and body["ok"] is False and body["error"]
