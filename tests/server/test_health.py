"""GET /health/live and /health/ready: 200 or 503, always JSON."""

from __future__ import annotations

import asyncio
import time


async def test_live_answers_without_the_database(client, db, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(type(db.engine), "run_querystring", broken)
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": "live"}


async def test_ready_when_the_database_answers(client):
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": "ready"}
    assert response.headers["cache-control"] == "no-store"


async def test_not_ready_when_the_database_refuses(client, db, monkeypatch):
    async def refused(*_args, **_kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(type(db.engine), "run_querystring", refused)
    response = await client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and "database is unavailable" in body["error"]
    assert response.headers["retry-after"]


async def test_not_ready_within_the_timeout_when_the_database_hangs(db, client_for, monkeypatch):
    client = client_for(health_timeout=0.3)

    async def hangs(*_args, **_kwargs):
        await asyncio.sleep(60)

    monkeypatch.setattr(type(db.engine), "run_querystring", hangs)
    started = time.perf_counter()
    response = await client.get("/health/ready")
    assert time.perf_counter() - started < 10  # about 0.3 s, where the hang lasts 60
    assert response.status_code == 503
    assert response.json() == {"ok": False, "error": "the database did not answer within 0.3 s"}


async def test_health_is_documented_in_the_openapi_schema(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert "200" in paths["/health/live"]["get"]["responses"]
    assert {"200", "503"} <= set(paths["/health/ready"]["get"]["responses"])


async def test_head_probes_get_the_status_without_a_body(client, db, monkeypatch):
    live = await client.head("/health/live")
    assert live.status_code == 200 and live.content == b""
    assert (await client.head("/health/ready")).status_code == 200

    async def refused(*_args, **_kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(type(db.engine), "run_querystring", refused)
    not_ready = await client.head("/health/ready")
    assert not_ready.status_code == 503 and not_ready.content == b""
