"""GET /api/changes/stream on the production command: each change as a Server-Sent Event soon
after its commit, resuming after Last-Event-ID, heartbeats, and a clean end at shutdown."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from home.tooling.servers import Server
from tests.support.client_system import ClientSystem


class Events:
    """The events of one open stream, parsed as a browser's EventSource does, by a reader that
    runs while the stream is open."""

    def __init__(self, response: httpx.Response) -> None:
        self.queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.comments = 0
        self.reader = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        event: dict[str, str] = {}
        async for line in response.aiter_lines():
            if not line:
                if event:
                    self.queue.put_nowait(event)
                event = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                name, _, value = line.partition(":")
                event[name] = value.removeprefix(" ")

    async def next(self, within: float = 30) -> dict[str, str]:
        """The next event; TimeoutError when none comes within `within` seconds."""
        return await asyncio.wait_for(self.queue.get(), within)

    def close(self) -> None:
        self.reader.cancel()


@pytest.fixture(params=["sqlite", "postgres"])
async def served(request, databases):
    """The production command on an empty database of each engine, with short heartbeats."""
    database = await databases(request.param)
    await database.clear()
    with Server(database.env, workers=2, STREAM_HEARTBEAT_SECONDS="1") as server:
        yield server


async def writer(server: Server) -> ClientSystem:
    key = server.piccolo(
        "home",
        "new_api_key",
        f"stream-{time.monotonic_ns()}",
        "--scope=read,sessions:write,members:write,admin",
    )
    return ClientSystem(
        httpx.AsyncClient(base_url=server.url, timeout=60), key.splitlines()[-1], ""
    )


async def test_changes_stream_as_they_happen_and_resume_after_the_last_id(served):
    system = await writer(served)
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
        async with http.stream("GET", "/api/changes/stream") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = Events(response)  # from now on: nothing older is sent
            member = await system.add_member("LIVE", "Europe/Paris")
            started = time.monotonic()
            first = await events.next()
            assert time.monotonic() - started < 10
            assert first["event"] == "member.created"
            change = json.loads(first["data"])
            assert change["id"] == first["id"] and change["data"]["id"] == member
            await system.start(member)
            second = await events.next()
            assert second["event"] == "period.created"
            assert json.loads(second["data"])["data"]["end_time"] is None
            events.close()
        # A browser reconnecting sends the last id it saw: the stream resumes after it.
        await system.stop(member)
        headers = {"last-event-id": first["id"]}
        async with http.stream("GET", "/api/changes/stream", headers=headers) as response:
            events = Events(response)
            assert [(await events.next())["event"] for _ in range(2)] == [
                "period.created",
                "period.updated",
            ]
            # Quiet now: heartbeats (comments) keep the connection open.
            deadline = time.monotonic() + 20
            while events.comments < 2:
                assert time.monotonic() < deadline, "no heartbeat"
                await asyncio.sleep(0.1)
            assert events.queue.empty()
            events.close()
    await system.http.aclose()


async def test_a_stream_ends_cleanly_when_the_server_stops(databases):
    database = await databases("sqlite")
    await database.clear()
    server = Server(database.env, workers=2, GRACEFUL_TIMEOUT="60").start()
    try:
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=60) as http,
            http.stream("GET", "/api/changes/stream") as response,
        ):
            assert response.status_code == 200
            started = time.monotonic()
            stopping = asyncio.create_task(asyncio.to_thread(server.stop))
            body = b"".join([chunk async for chunk in response.aiter_raw()])  # ends, no error
            assert await stopping == 0
            # It did not wait out GRACEFUL_TIMEOUT for the stream.
            assert time.monotonic() - started < 30
            assert b"data:" not in body
    finally:
        server.stop()
    assert "Finished server process" in server.stderr()


async def test_a_bad_cursor_or_a_pruned_one_is_refused_before_streaming(served):
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
        refused = await http.get("/api/changes/stream", params={"after": "nope"})
        assert refused.status_code == 400 and "is not a cursor" in refused.json()["error"]
        refused = await http.get("/api/changes/stream", headers={"last-event-id": "zz"})
        assert refused.status_code == 400
