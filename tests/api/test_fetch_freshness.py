"""/fetch/ caching: ETag and 304, gzip, and never a stale body after any committed change."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest
from piccolo.apps.user.tables import BaseUser

from home.api import cache as fetch_cache
from home.api import response as fetch_response
from home.tooling import cli
from home.tooling.servers import Server
from tests.factories import make_member, make_period, make_roster, write_outside_app
from tests.support.admin import logged_in

# The admin warns on login outside production mode; that is the admin's concern, not this test's.
ADMIN_LOGIN_WARNING = "ignore:If running sessions in production:UserWarning"


async def test_fetch_sends_etag_and_304_for_the_current_tag(client):
    await make_member("ALPHA")
    first = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = await client.get(
        "/fetch/", headers={"if-none-match": etag, "accept-encoding": "identity"}
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert "content-type" not in again.headers


async def test_fetch_old_etag_gets_the_new_body_after_a_change(client):
    await make_member("ALPHA")
    first = await client.get("/fetch/")
    await make_member("BRAVO")
    after = await client.get("/fetch/", headers={"if-none-match": first.headers["etag"]})
    assert after.status_code == 200
    assert after.headers["etag"] != first.headers["etag"]
    assert [m["real_name"] for m in after.json()["members"]] == ["ALPHA", "BRAVO"]


async def test_fetch_etag_differs_per_query_and_encoding(client):
    await make_member("ALPHA")
    plain = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    zipped = await client.get("/fetch/", headers={"accept-encoding": "gzip"})
    paged = await client.get("/fetch/?limit=5", headers={"accept-encoding": "identity"})
    tags = {plain.headers["etag"], zipped.headers["etag"], paged.headers["etag"]}
    assert len(tags) == 3
    # Either encoding's tag revalidates the resource.
    revalidated = await client.get(
        "/fetch/",
        headers={"if-none-match": zipped.headers["etag"], "accept-encoding": "identity"},
    )
    assert revalidated.status_code == 304


async def test_fetch_gzip_round_trip_matches_identity_body(client, monkeypatch):
    await make_roster(50)
    identity = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in identity.headers
    calls = []
    real_compress = fetch_cache.compress
    monkeypatch.setattr(
        fetch_cache, "compress", lambda body: calls.append(1) or real_compress(body)
    )
    raw_bodies = []
    for _ in range(3):
        async with client.stream("GET", "/fetch/", headers={"accept-encoding": "gzip"}) as response:
            assert response.headers["content-encoding"] == "gzip"
            assert response.headers["vary"] == "Accept-Encoding"
            raw_bodies.append(b"".join([chunk async for chunk in response.aiter_raw()]))
    assert gzip.decompress(raw_bodies[0]) == identity.content
    assert len(raw_bodies[0]) < len(identity.content) / 3
    assert raw_bodies[0] == raw_bodies[1] == raw_bodies[2]
    assert len(calls) == 1, "gzip must be computed once per data version"


async def test_fetch_refuses_gzip_with_zero_quality(client):
    await make_member()
    response = await client.get("/fetch/", headers={"accept-encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in response.headers
    assert response.json()["ok"] is True


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("*, gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("GZIP", True),
        ("br, *;q=0.5", True),
        ("*;q=0", False),
        ("identity;q=1, gzip; q=0.001", True),
        ("x-gzip", True),
        ("gzip;q=nonsense", False),
    ],
)
async def test_fetch_honours_accept_encoding_as_written(client, accept_encoding, gzipped):
    await make_member()
    response = await client.get("/fetch/", headers={"accept-encoding": accept_encoding})
    assert (response.headers.get("content-encoding") == "gzip") is gzipped
    assert response.json()["ok"] is True


async def test_fetch_reads_headers_sent_on_several_lines(client):
    await make_member()
    etag = (await client.get("/fetch/", headers={"accept-encoding": "identity"})).headers["etag"]
    lines = [("if-none-match", '"other"'), ("if-none-match", etag)]
    assert (await client.get("/fetch/", headers=lines)).status_code == 304
    lines = [("accept-encoding", "br"), ("accept-encoding", "gzip")]
    assert (await client.get("/fetch/", headers=lines)).headers["content-encoding"] == "gzip"


async def test_fetch_shows_plain_sql_change_on_next_request(client, db):
    member = await make_member("BEFORE")
    assert (await client.get("/fetch/")).json()["members"][0]["real_name"] == "BEFORE"
    await write_outside_app(db, f"UPDATE member SET real_name = 'AFTER' WHERE id = '{member.id}'")
    assert (await client.get("/fetch/")).json()["members"][0]["real_name"] == "AFTER"
    await write_outside_app(db, "DELETE FROM activity_period")
    await write_outside_app(db, "DELETE FROM member")
    assert (await client.get("/fetch/")).json()["members"] == []


async def test_fetch_shows_period_change_on_next_request(client, db):
    member = await make_member()
    period = await make_period(member)
    first = (await client.get("/fetch/")).json()
    assert len(first["members"][0]["activity"]) == 1
    await write_outside_app(db, f"DELETE FROM activity_period WHERE id = {period.id}")
    assert (await client.get("/fetch/")).json()["members"][0]["activity"] == []


async def test_fetch_shows_populate_run_on_next_request(client, cli_env):
    await make_member()
    assert len((await client.get("/fetch/")).json()["members"]) == 1
    cli.check(await asyncio.to_thread(cli.piccolo, "home", "populate", "4", env=cli_env))
    assert len((await client.get("/fetch/")).json()["members"]) == 5


@pytest.mark.filterwarnings(ADMIN_LOGIN_WARNING)
async def test_fetch_shows_admin_api_change_on_next_request(client):
    member = await make_member("ORIGINAL")
    assert (await client.get("/fetch/")).json()["members"][0]["real_name"] == "ORIGINAL"
    admin = await logged_in(client, "fresh")
    edit = await admin.send("PATCH", f"/api/tables/member/{member.id}/", {"real_name": "EDITED"})
    assert edit.status_code == 200, edit.text
    assert (await client.get("/fetch/")).json()["members"][0]["real_name"] == "EDITED"
    added = await admin.add_member("ADDED")
    assert added.status_code in (200, 201), added.text
    names = [m["real_name"] for m in (await client.get("/fetch/")).json()["members"]]
    assert names == ["ADDED", "EDITED"]


@pytest.fixture
def server(db):
    """The app served by a second process on the test database."""
    with Server(db.env, workers=1) as running:
        yield running.url


async def test_two_processes_sharing_one_database_stay_coherent(client, server):
    await make_member("FIRST")
    async with httpx.AsyncClient(base_url=server, timeout=60) as other:
        theirs = await other.get("/fetch/", headers={"accept-encoding": "identity"})
        ours = await client.get("/fetch/", headers={"accept-encoding": "identity"})
        assert theirs.content == ours.content
        assert theirs.headers["etag"] == ours.headers["etag"]
        # A write in this process is visible in the other one on its very next request.
        await make_member("SECOND")
        theirs = await other.get(
            "/fetch/",
            headers={"if-none-match": theirs.headers["etag"], "accept-encoding": "identity"},
        )
        assert theirs.status_code == 200
        assert [m["real_name"] for m in theirs.json()["members"]] == ["FIRST", "SECOND"]
        # And a write through the other process's admin shows here.
        ours = await client.get("/fetch/", headers={"accept-encoding": "identity"})
        assert ours.headers["etag"] == theirs.headers["etag"]
        member_id = theirs.json()["members"][0]["id"]
        admin = await logged_in(other, "other", headers={"origin": server})
        edit = await admin.send(
            "PATCH", f"/api/tables/member/{member_id}/", {"real_name": "RENAMED"}
        )
        assert edit.status_code == 200, edit.text
    names = [m["real_name"] for m in (await client.get("/fetch/")).json()["members"]]
    assert names == ["RENAMED", "SECOND"]


async def test_writes_to_other_tables_keep_the_cached_body(client, monkeypatch):
    await make_roster(3)
    first = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    await BaseUser.create_user(
        username="unrelated", password="unrelated-password-1", email="u@localhost", active=True
    )
    rendered = []
    real_render = fetch_response.render
    monkeypatch.setattr(
        fetch_response, "render", lambda *args: rendered.append(1) or real_render(*args)
    )
    again = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    assert again.headers["etag"] == first.headers["etag"]
    assert rendered == []


async def test_concurrent_requests_for_a_new_version_render_once(app, client, monkeypatch):
    await make_roster(30)
    app.state.fetch.cache.clear()
    renders = []
    real_render = fetch_response.render
    monkeypatch.setattr(
        fetch_response, "render", lambda *args: renders.append(1) or real_render(*args)
    )
    responses = await asyncio.gather(
        *[client.get("/fetch/", headers={"accept-encoding": "identity"}) for _ in range(8)]
    )
    assert len({r.content for r in responses}) == 1
    assert len({r.headers["etag"] for r in responses}) == 1
    assert len(renders) == 1
