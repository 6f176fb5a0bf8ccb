"""Scoped, expiring, member-limited API keys: every operation needs its scope (403 naming it,
nothing written), a limited key sees only its members (others are answered as if they did not
exist), an expired key gets 401 saying when it expired, and old keys keep every scope."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from piccolo.apps.migrations.commands.backwards import run_backwards

from home.changes import webhooks
from home.changes.tables import WebhookEndpoint
from home.roster.api_keys import SCOPES, create_api_key
from home.roster.tables import ActivityPeriod, ApiKey, AuditEntry, Closing, Member
from tests.conftest import migrate
from tests.factories import make_member, make_period
from tests.support.client_system import ClientSystem
from tests.support.exports import TimeEntry, toggl_csv

START = "2026-11-30T09:00:00Z"
END = "2026-11-30T10:00:00Z"


def operations(member: str, endpoint: int) -> list[tuple[Any, str, str, object]]:
    """Every operation of the API an API key may call: (the scope it needs, or the scopes,
    method, path, body: JSON, or CSV text)."""
    imported = toggl_csv([TimeEntry("IMPORTED", "2026-11-20", "09:00", "2026-11-20", "10:00")])
    return [
        ("read", "GET", f"/api/members/{member}", None),
        ("read", "GET", "/api/reports/activity", None),
        ("read", "GET", "/api/reports/active", None),
        ("read", "GET", "/api/reports/sessions", None),
        ("read", "GET", "/api/reports/zones", None),
        ("read", "GET", "/api/changes", None),
        ("read", "GET", "/api/changes/stream", None),
        ("read", "GET", "/api/closing", None),
        ("members:write", "POST", "/api/members", {"real_name": "NEW", "tz": "UTC"}),
        ("sessions:write", "POST", f"/api/members/{member}/sessions/start", {"at": START}),
        ("sessions:write", "POST", f"/api/members/{member}/sessions/stop", {"at": END}),
        (
            "sessions:write",
            "POST",
            f"/api/members/{member}/periods",
            {"start_time": "2026-11-29T09:00:00Z", "end_time": "2026-11-29T10:00:00Z"},
        ),
        ("admin", "GET", "/api/webhooks", None),
        ("admin", "POST", "/api/webhooks", {"url": "http://127.0.0.1:9/", "types": ["*"]}),
        ("admin", "POST", f"/api/webhooks/{endpoint}/disable", {"reason": "maintenance"}),
        ("admin", "POST", f"/api/webhooks/{endpoint}/enable", None),
        ("admin", "POST", f"/api/webhooks/{endpoint}/secret", None),
        ("admin", "DELETE", f"/api/webhooks/{endpoint}", None),
        ("admin", "POST", "/api/closing", {"until": "2026-11-01T00:00:00Z"}),
        (("members:write", "sessions:write"), "POST", "/api/imports", imported),
        ("read", "GET", "/api/export", None),
    ]


async def call(http: httpx.AsyncClient, method: str, path: str, body: object, headers: dict):
    if isinstance(body, str):
        return await http.request(
            method, path, content=body, headers={**headers, "content-type": "text/csv"}
        )
    return await http.request(method, path, json=body, headers=headers)


async def stored() -> list[object]:
    """Everything an operation could write."""
    return [
        await Member.select().order_by(Member.id),
        await ActivityPeriod.select().order_by(ActivityPeriod.id),
        await WebhookEndpoint.select().order_by(WebhookEndpoint.id),
        await Closing.select(),
        await AuditEntry.count(),
    ]


async def answer_status(http: httpx.AsyncClient, method: str, path: str, headers: dict) -> int:
    """The status the app answers with, without reading the body (a stream never ends): the
    client hangs up once the response has started."""
    app = http._transport.app  # type: ignore[attr-defined]
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await started
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "root_path": "",
        "state": {},
    }
    running = asyncio.ensure_future(app(scope, receive, send))
    try:
        return await asyncio.wait_for(asyncio.shield(started), 30)
    finally:
        await asyncio.wait_for(running, 30)


@pytest.fixture
async def open_app(db, client_for):
    """A client for an app whose reports need a token (so keys are what open them) and whose
    webhooks may reach this machine."""
    return client_for(fetch_token="t" * 32, webhook_allow_private=True)


async def test_each_operation_is_refused_without_its_scope_and_nothing_is_written(
    open_app, adapter
):
    member = str((await make_member("DOOR")).id)
    endpoint, _secret = await webhooks.register(
        adapter, "http://127.0.0.1:9/", ["*"], "test", allow_private=True, now=datetime.now(UTC)
    )
    listed = operations(member, endpoint.id)
    assert {(method, path) for _, method, path, _ in listed} >= {
        (method, path.format(member_id=member, endpoint_id=endpoint.id).rstrip("/"))
        for method, path in api_operations(open_app)
    }, "an operation of the API is missing here"
    for scope, method, path, body in listed:
        needed = scope if isinstance(scope, tuple) else (scope,)
        for missing in needed:
            others = [other for other in SCOPES if other != missing]
            lacking = await ClientSystem.register(open_app, adapter, scopes=others)
            before = await stored()
            refused = await call(open_app, method, path, body, lacking.headers())
            assert refused.status_code == 403, (missing, method, path, refused.text)
            assert f"lacks the scope {missing}" in refused.json()["error"]
            assert f"{method} {path}" in refused.json()["error"]
            assert await stored() == before, (method, path)
        holding = await ClientSystem.register(open_app, adapter, scopes=list(needed))
        if path.endswith("/stream"):
            status = await answer_status(open_app, method, path, holding.headers())
        else:
            allowed = await call(open_app, method, path, body, holding.headers())
            status = allowed.status_code
            assert status in (200, 201, 204), (scope, method, path, allowed.text)
        assert status in (200, 201, 204), (scope, method, path)


def api_operations(http: httpx.AsyncClient) -> set[tuple[str, str]]:
    """(method, path template) of every operation under /api/ (OPTIONS aside)."""
    app = http._transport.app  # type: ignore[attr-defined]
    return {
        (method, route.path.replace(":str", "").replace(":int", ""))
        for route in app.routes
        if route.path.startswith("/api/")
        for handler in getattr(route, "route_handlers", [])
        for method in handler.http_methods
        if method not in ("OPTIONS", "HEAD")
    }


async def test_a_key_limited_to_members_sees_only_them(open_app, adapter):
    mine, other = await make_member("MINE", "Asia/Kolkata"), await make_member("OTHER")
    await make_period(mine)
    await make_period(other)
    limited = await ClientSystem.register(
        open_app, adapter, scopes=["read", "sessions:write"], members=[str(mine.id)]
    )
    # Reads: the other member does not exist for this key.
    assert (await limited.get(f"/members/{mine.id}")).status_code == 200
    hidden = await limited.get(f"/members/{other.id}")
    assert hidden.status_code == 404
    assert hidden.json()["error"] == (
        f"no member with id {other.id}; create one with POST /api/members"
    )
    # Writes likewise, and nothing is written for the other member.
    assert (await limited.start(str(mine.id), at=START)).status_code == 201
    refused = await limited.start(str(other.id), at=START)
    assert refused.status_code == 404 and str(other.id) in refused.json()["error"]
    assert await ActivityPeriod.count().where(ActivityPeriod.end_time.is_null()) == 1
    # Reports and the feed cover its members alone.
    since = {"since": "2020-01-01T00:00:00Z", "until": "2020-12-31T00:00:00Z"}
    report = (await limited.get("/reports/activity", **since)).json()
    assert [row["id"] for row in report["members"]] == [str(mine.id)]
    zones = (await limited.get("/reports/zones")).json()["zones"]
    assert zones == [{"tz": "Asia/Kolkata", "members": 1}]
    changes = (await limited.get("/changes")).json()["changes"]
    assert changes and all(
        str(mine.id) in (change["data"].get("member_id"), change["data"].get("id"))
        for change in changes
    )
    # It cannot make members, and may not have the admin scope.
    writer = await ClientSystem.register(
        open_app, adapter, scopes=["members:write"], members=[str(mine.id)]
    )
    made = await writer.post("/members", {"real_name": "NEW", "tz": "UTC"})
    assert made.status_code == 403 and "limited to some members" in made.json()["error"]
    with pytest.raises(ValueError, match="cannot have the admin scope"):
        await create_api_key(adapter, "bad", "test", scopes=["admin"], members=[str(mine.id)])


async def test_an_expired_key_gets_401_saying_when(db, adapter, client_for):
    now = [datetime(2026, 12, 4, 12, tzinfo=UTC)]
    http = client_for(clock=lambda: now[0].timestamp())
    made = await create_api_key(
        adapter, "short-lived", "test", scopes=SCOPES, expires="2026-12-05T00:00:00Z", now=now[0]
    )
    system = ClientSystem(http, made.key, made.name)
    assert (await system.post("/members", {"real_name": "A", "tz": "UTC"})).status_code == 201
    now[0] += timedelta(days=1)
    expired = await system.post("/members", {"real_name": "B", "tz": "UTC"})
    assert expired.status_code == 401
    assert expired.json()["error"] == (
        "the API key 'short-lived' expired at 2026-12-05T00:00:00Z: ask an operator for a new one"
    )
    assert await Member.count() == 1


async def test_keys_made_before_scopes_keep_every_scope(fresh):
    back = await run_backwards(
        app_name="home", migration_id="2026-12-04T19:00:00:000000", auto_agree=True
    )
    assert back.success, back.message
    await fresh.engine.run_ddl(
        "INSERT INTO api_key (name, prefix, key_hash, active) VALUES ('old', 'abc', 'x', true)"
    )
    await migrate()
    [old] = await ApiKey.select(ApiKey.scopes, ApiKey.member_ids, ApiKey.expires_at)
    assert old == {"scopes": ",".join(SCOPES), "member_ids": None, "expires_at": None}
    # A key made from now on, by plain SQL too, may only read.
    await fresh.engine.run_ddl(
        "INSERT INTO api_key (name, prefix, key_hash, active) VALUES ('new', 'def', 'y', true)"
    )
    new = await ApiKey.select(ApiKey.scopes).where(ApiKey.name == "new").first()
    assert new == {"scopes": "read"}
    entry = await AuditEntry.select(AuditEntry.after).where(AuditEntry.row_id == "2").first()
    assert "read" in entry["after"]
