"""Large rosters: the body is streamed in chunks, equals the assembled one, and is cached."""

from __future__ import annotations

import asyncio
import gzip

import pytest

from home.api import render as fetch_render
from home.api import response as fetch_response
from home.api.cache import BodyCache
from home.storage import DataVersion
from tests.factories import make_roster


@pytest.fixture
def small_stream_threshold(monkeypatch):
    """Stream anything beyond ~2 KB, in chunks of 7 members, fetching 10 rows at a time."""
    monkeypatch.setattr(fetch_response, "STREAM_AFTER_BYTES", 2_000)
    monkeypatch.setattr(fetch_render, "CHUNK_MEMBERS", 7)
    monkeypatch.setattr(fetch_render, "FETCH_ROWS", 10)


async def assembled_body(app, client, query: str = "") -> bytes:
    app.state.fetch.cache.clear()
    response = await client.get("/fetch/" + query, headers={"accept-encoding": "identity"})
    assert "content-length" in response.headers
    return response.content


async def asgi_get(app, path: str, query: bytes = b"") -> tuple[dict, list[dict]]:
    """Call the app directly, keeping every message it sends (httpx would join the chunks)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.9", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict] = []
    requested = False
    finished = asyncio.Event()

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        # Like uvicorn: the connection reports a disconnect once the response is complete.
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            finished.set()

    await app(scope, receive, send)
    return sent[0], [m for m in sent[1:] if m["type"] == "http.response.body"]


async def test_large_roster_is_streamed_in_chunks_equal_to_the_assembled_body(
    app, client, monkeypatch
):
    await make_roster(120, periods=2)
    expected = await assembled_body(app, client)
    monkeypatch.setattr(fetch_response, "STREAM_AFTER_BYTES", 2_000)
    monkeypatch.setattr(fetch_render, "CHUNK_MEMBERS", 7)
    monkeypatch.setattr(fetch_render, "FETCH_ROWS", 10)
    app.state.fetch.cache.clear()
    start, bodies = await asgi_get(app, "/fetch/")
    headers = dict(start["headers"])
    assert start["status"] == 200
    assert b"content-length" not in headers
    assert headers[b"etag"]
    assert len([body for body in bodies if body["body"]]) > 10
    assert b"".join(body["body"] for body in bodies) == expected
    # The cached copy (kept because the stream completed) is the same document.
    cached = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    assert cached.content == expected


async def test_streamed_gzip_round_trip(app, client, small_stream_threshold):
    await make_roster(80)
    app.state.fetch.cache.clear()
    async with client.stream("GET", "/fetch/", headers={"accept-encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    body = gzip.decompress(raw)
    assert body.startswith(b'{"ok":true,"members":[') and body.endswith(b"]}")
    assert len(__import__("json").loads(body)["members"]) == 80


async def test_completed_stream_is_cached_for_the_next_request(
    app, client, small_stream_threshold, monkeypatch
):
    await make_roster(60)
    app.state.fetch.cache.clear()
    first = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    renders = []
    real_render = fetch_response.render
    monkeypatch.setattr(fetch_response, "render", lambda *a: renders.append(1) or real_render(*a))
    second = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    assert second.content == first.content
    assert renders == []
    assert second.headers["etag"] == first.headers["etag"]


async def test_streamed_paging_and_styles_match_the_assembled_ones(app, client, monkeypatch):
    await make_roster(40, periods=3)
    queries = ["?style=fullthrottle", "?limit=30", "?limit=30&name=member&style=fullthrottle"]
    expected = {query: await assembled_body(app, client, query) for query in queries}
    monkeypatch.setattr(fetch_response, "STREAM_AFTER_BYTES", 500)
    monkeypatch.setattr(fetch_render, "CHUNK_MEMBERS", 3)
    monkeypatch.setattr(fetch_render, "FETCH_ROWS", 7)
    for query in queries:
        app.state.fetch.cache.clear()
        response = await client.get("/fetch/" + query, headers={"accept-encoding": "identity"})
        assert "content-length" not in response.headers
        assert response.content == expected[query], query


def test_only_one_stream_per_body_keeps_a_copy_for_the_cache():
    cache = BodyCache()
    version = DataVersion("e", 1)
    first = cache.claim_fill(version, "all")
    assert first is not None
    assert cache.claim_fill(version, "all") is None
    assert cache.claim_fill(version, "other") is not None
    cache.release_fill(first)
    assert cache.claim_fill(version, "all") is not None


def test_cache_keeps_only_the_newest_version_and_its_byte_budget():
    cache = BodyCache(max_bytes=100)
    cache.put(DataVersion("e", 2), "a", b"x" * 40)
    cache.put(DataVersion("e", 1), "b", b"old")  # an older render never replaces newer data
    assert cache.get(DataVersion("e", 1), "b") is None
    cache.put(DataVersion("e", 2), "c", b"y" * 40)
    cache.put(DataVersion("e", 2), "d", b"z" * 40)  # over budget: the least recent goes
    assert cache.get(DataVersion("e", 2), "a") is None
    assert cache.get(DataVersion("e", 2), "d").body == b"z" * 40
    cache.put(DataVersion("e", 3), "a", b"new")
    assert cache.get(DataVersion("e", 2), "c") is None
    assert cache.get(DataVersion("e", 3), "a").body == b"new"
    cache.put(DataVersion("e", 3), "huge", b"h" * 101)  # larger than the whole budget
    assert cache.get(DataVersion("e", 3), "huge") is None


async def test_a_streamed_gzip_body_is_kept_in_both_forms(app, client, small_stream_threshold):
    await make_roster(80)
    app.state.fetch.cache.clear()
    gz = {"accept-encoding": "gzip"}
    async with client.stream("GET", "/fetch/", headers=gz) as streamed:
        raw = b"".join([chunk async for chunk in streamed.aiter_raw()])
    assert "content-length" not in streamed.headers
    async with client.stream("GET", "/fetch/", headers=gz) as cached:
        cached_raw = b"".join([chunk async for chunk in cached.aiter_raw()])
    assert cached.headers["content-length"] == str(len(cached_raw))
    assert cached_raw == raw
    plain = await client.get("/fetch/", headers={"accept-encoding": "identity"})
    assert plain.headers["content-length"] == str(len(plain.content))
    assert gzip.decompress(raw) == plain.content


async def test_a_change_drops_the_old_bodies_before_the_next_render(app, client, monkeypatch):
    """A large roster's old body is not kept beside the render of the new one."""
    await make_roster(30)
    await client.get("/fetch/")
    service = app.state.fetch
    assert service.cache.size > 0
    held_while_rendering = []
    real_render = fetch_response.render

    def watched(*args):
        held_while_rendering.append(service.cache.size)
        return real_render(*args)

    monkeypatch.setattr(fetch_response, "render", watched)
    await make_roster(1)
    fresh = await client.get("/fetch/")
    assert len(fresh.json()["members"]) == 31
    assert held_while_rendering == [0]


async def test_a_member_with_more_periods_than_a_batch_of_rows(app, client, monkeypatch):
    """A member with more periods than a batch has rows is one row, shaped whole, in order."""
    members = await make_roster(3, periods=25)
    expected = await assembled_body(app, client)
    monkeypatch.setattr(fetch_render, "FETCH_ROWS", 7)
    for query in ("", "?limit=2", "?style=fullthrottle"):
        app.state.fetch.cache.clear()
        response = await client.get("/fetch/" + query, headers={"accept-encoding": "identity"})
        if not query:
            assert response.content == expected
        listed = response.json()["members"]
        assert [len(m.get("activity", m.get("activity_periods"))) for m in listed] == [25] * len(
            listed
        )
    assert len(members) == 3


async def test_a_cancelled_render_waits_for_its_read_ahead(monkeypatch):
    """The read running in a worker thread finishes before the snapshot's connection could be
    given back, even when the request is cancelled while waiting for it."""
    import threading

    from home.api.query import FetchQuery
    from home.storage import Snapshot
    from home.storage.sqlite import SQLiteTimes

    running = []  # reads in their worker threads right now
    entered, release = threading.Event(), threading.Event()
    row = ("00000000-0000-4000-8000-000000000000", "A", "UTC", None, None)

    def slow_fetch(size: int) -> list:
        running.append(size)
        entered.set()
        release.wait(30)  # until the test has cancelled the render
        running.pop()
        return [row] * size

    snapshot = Snapshot(None, lambda size: asyncio.to_thread(slow_fetch, size))

    async def consume() -> None:
        async for _ in fetch_render.render(snapshot, FetchQuery(), SQLiteTimes()):
            pass

    task = asyncio.create_task(consume())
    assert await asyncio.to_thread(entered.wait, 30) and not task.done()
    task.cancel()
    # Cancelled, the render still waits for the read its thread is doing.
    done, _ = await asyncio.wait([task], timeout=0.2)
    assert not done and running, "the render ended while its read was still running"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert running == []
